// Placing and cancelling orders: the commands behind POST /api/orders and its cancel route.
// Everything that can be checked is checked before anything is written: the lines against the
// catalog (exists, one currency), the caller against the policies, the key against its first use.
import { randomUUID } from 'node:crypto'
import {
  MosaicError,
  toMinor,
  requireIdentity,
  idempotencyKey,
  traceContext,
  type RouteContext,
  type Static,
  type FieldIssue,
  type Identity,
} from '../../kit/index.ts'
import { identityContract } from '../identity/contract.ts'
import { catalogContract } from '../catalog/contract.ts'
import type { OrdersContract, ordersContract } from './contract.ts'
import type { OrdersSettings } from './config.ts'
import { initialState, type Line } from './order.ts'
import { runCommand } from './commands.ts'
import { findOrder, orderNotFound, orderOf, type Order } from './views.ts'
import { claim, fingerprint, forget, record, type Scope } from './idempotency.ts'
import type { SagaRunner } from './runner.ts'
import { sagasStarted } from './metrics.ts'

type Ctx = RouteContext<OrdersContract, OrdersSettings>
type PlaceBody = Static<typeof ordersContract.routes.placeOrder.body>
type Headers = Readonly<Record<string, string | string[] | undefined>>

const invalid = (issues: FieldIssue[]): MosaicError => new MosaicError('validation_failed', { issues })

/** `Prefer: wait=N` → N seconds (at most 10), or undefined. */
export function preferredWait(headers: Headers): number | undefined {
  const prefer = [headers.prefer].flat().filter(Boolean).join(',')
  const match = /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?/i.exec(prefer)
  return match ? Math.min(10, Number(match[1])) : undefined
}

/** The lines in one shape: the single-item form becomes one line; repeated products are merged. */
function linesOf(body: PlaceBody): { productId: string; quantity: number }[] {
  if (body.items && (body.productId !== undefined || body.quantity !== undefined)) {
    throw invalid([
      { path: '/items', code: 'exclusive', message: 'give either items or productId and quantity, not both' },
    ])
  }
  if (!body.items) {
    const missing = (['productId', 'quantity'] as const).filter((f) => body[f] === undefined)
    if (missing.length > 0)
      throw invalid(
        missing.map((f) => ({
          path: `/${f}`,
          code: 'required',
          message:
            body.productId === undefined && body.quantity === undefined ? 'is required (or give items)' : 'is required',
        })),
      )
    return [{ productId: body.productId!, quantity: body.quantity! }]
  }
  const merged = new Map<string, number>()
  for (const { productId, quantity } of body.items) merged.set(productId, (merged.get(productId) ?? 0) + quantity)
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }))
}

/** Prices the lines with the catalog's current names and prices; all in one currency. */
async function price(
  ctx: Ctx,
  wanted: { productId: string; quantity: number }[],
): Promise<{ items: Line[]; currency: string }> {
  const { items: products } = await ctx
    .client(catalogContract)
    .getProducts({ ids: wanted.map((l) => l.productId) }, { timeoutMs: ctx.config.ORDERS_STEP_TIMEOUT_MS })
  const byId = new Map(products.map((p) => [p.id, p]))
  const unknown = wanted.flatMap((l, i) =>
    byId.has(l.productId)
      ? []
      : [{ path: `/items/${i}/productId`, code: 'unknown_product', message: `product ${l.productId} does not exist` }],
  )
  if (unknown.length > 0)
    throw new MosaicError('unknown_product', { issues: unknown, detail: unknown.map((u) => u.message).join('; ') })
  const currencies = new Set(products.map((p) => p.currency))
  if (currencies.size > 1)
    throw invalid([
      {
        path: '/items',
        code: 'currency',
        message: `the products are priced in different currencies (${[...currencies].sort().join(', ')}): place one order per currency`,
      },
    ])
  const currency = products[0]!.currency
  const items = wanted.map((l) => {
    const product = byId.get(l.productId)!
    return {
      productId: l.productId,
      name: product.name,
      quantity: l.quantity,
      unitPriceMinor: toMinor(product.price, currency).toString(),
    }
  })
  return { items, currency }
}

/** The customer the order is for: the caller, or (staff) the one named. */
function customerOf(ctx: Ctx, identity: Identity, userId = identity.userId): string {
  if (
    !ctx.authorize(identity, 'orders:place', { type: 'Order', id: 'new', tenantId: identity.tenantId, ownerId: userId })
  ) {
    throw new MosaicError('forbidden', {
      detail: userId === identity.userId ? 'you may not place orders' : 'only staff place orders for other customers',
    })
  }
  return userId
}

/** Time placing an order may take (one catalog call, two transactions) before its key counts as abandoned. */
const placingMs = (ctx: Ctx): number => ctx.config.ORDERS_STEP_TIMEOUT_MS + 5000

const locationOf = (id: string): string => `/api/orders/${encodeURIComponent(id)}`
const isFinal = (order: Order | undefined): boolean => order !== undefined && order.status !== 'PENDING'

/**
 * How often a `Prefer: wait` looks at the order when not woken: only for a saga that another
 * replica runs (one running here wakes the waiter as it finishes), or one waiting for a retry.
 */
const WAIT_POLL_MS = 1000

/**
 * Waits up to `seconds` for the order to leave PENDING: woken by the local runner when the saga
 * finishes, else polling. `current` is the order as the caller has it already, if it has.
 */
export async function waitForFinal(
  ctx: Ctx,
  runner: SagaRunner,
  id: string,
  seconds: number,
  isDone: (o: Order | undefined) => boolean = isFinal,
  current?: Order,
): Promise<Order | undefined> {
  const until = Math.min(Date.now() + seconds * 1000, ctx.deadline - 500)
  // Listening before looking: a saga that finishes while the order is being read still wakes us.
  const listen = (): Promise<void> => runner.settled(id, Math.max(0, Math.min(WAIT_POLL_MS, until - Date.now())))
  let woken = listen()
  let order = current ?? (await findOrder(ctx.db, id))
  while (!isDone(order) && Date.now() < until) {
    await woken
    woken = listen()
    order = await findOrder(ctx.db, id)
  }
  return order
}

export async function placeOrder(body: PlaceBody, headers: Headers, ctx: Ctx, runner: SagaRunner): Promise<Order> {
  const identity = requireIdentity(ctx)
  const key = idempotencyKey(headers)
  const wait = preferredWait(headers)
  const userId = customerOf(ctx, identity, body.userId)
  // Staff name the customer: it must be a user of their own tenant (the caller is one by definition).
  if (
    userId !== identity.userId &&
    !(await ctx.client(identityContract).userExists({ tenantId: identity.tenantId, userId })).exists
  ) {
    throw invalid([{ path: '/userId', code: 'unknown_user', message: 'is no user of your tenant' }])
  }
  const wanted = linesOf(body)
  const token = body.paymentMethod?.token ?? (ctx.config.ORDERS_DEFAULT_PAYMENT_TOKEN || undefined)
  if (!token) throw invalid([{ path: '/paymentMethod', code: 'required', message: 'is required' }])

  const scope: Scope = { tenantId: identity.tenantId, userId: identity.userId, key }
  const claimed = await claim(ctx.db, scope, fingerprint({ userId, lines: wanted, token }), {
    ttlHours: ctx.config.ORDERS_IDEMPOTENCY_TTL_HOURS,
    waitMs: ctx.config.ORDERS_IDEMPOTENCY_WAIT_MS,
    abandonAfterMs: placingMs(ctx),
  })
  if (!claimed.fresh) {
    const { response } = claimed
    if (response.location) ctx.setHeader('location', response.location)
    ctx.setHeader('idempotent-replayed', 'true')
    ctx.setStatus(response.status as 200 | 202)
    return response.body as Order
  }

  const orderId = randomUUID()
  let placed: Order | undefined
  try {
    const { items, currency } = await price(ctx, wanted)
    // The order, its saga and the answer for its key commit together, or none of them does.
    await runCommand(
      ctx.db,
      orderId,
      { type: 'place', orderId, userId, tenantId: identity.tenantId, items, currency },
      async (tx, state) => {
        await tx.query(
          `insert into sagas (order_id, phase, payment_token, deadline_at, trace_context) values ($1, 'forward', $2, now() + $3::int * interval '1 millisecond', $4)`,
          [orderId, token, ctx.config.ORDERS_SAGA_TIMEOUT_MS, traceContext()],
        )
        placed = orderOf(state)
        await record(
          tx,
          scope,
          orderId,
          { status: 202, body: placed, location: locationOf(orderId) },
          wait === undefined ? undefined : wait * 1000 + placingMs(ctx),
        )
      },
      // A new id's stream is empty: no need to read it; the append's version check would catch another writer.
      initialState(),
    )
  } catch (error) {
    // Nothing was placed: free the key, so the client may correct the request and retry with it.
    await forget(ctx.db, scope)
    throw error
  }
  if (!placed) throw new MosaicError('internal', { detail: `order ${orderId} was not placed` })
  sagasStarted.inc()
  runner.kick()
  ctx.setHeader('location', locationOf(orderId))
  if (wait === undefined) return placed

  const final = (await waitForFinal(ctx, runner, orderId, wait, isFinal, placed)) ?? placed
  const status = isFinal(final) ? 200 : 202
  await record(ctx.db, scope, orderId, { status, body: final, location: locationOf(orderId) })
  ctx.setHeader('preference-applied', `wait=${wait}`)
  ctx.setStatus(status)
  return final
}

/** The order, if the caller may see it; another customer's order is as good as absent (404). */
export async function visibleOrder(ctx: Ctx, id: string, action: 'orders:read' | 'orders:cancel'): Promise<Order> {
  const identity = requireIdentity(ctx)
  const order = await findOrder(ctx.db, id)
  if (
    !order ||
    !ctx.authorize(identity, action, { type: 'Order', id, tenantId: order.tenantId, ownerId: order.userId })
  )
    throw orderNotFound(id)
  return order
}

export async function cancelOrder(id: string, headers: Headers, ctx: Ctx, runner: SagaRunner): Promise<Order> {
  await visibleOrder(ctx, id, 'orders:cancel')
  // The request is an event on the order's stream, so it is ordered with the saga's own steps
  // (the version check): the saga sees it at its next step and compensates, or refunds if confirmed.
  await runCommand(ctx.db, id, { type: 'requestCancel' }, async (tx) => {
    await tx.query(
      `update sagas set phase = case when phase = 'done' then 'forward' else phase end, due_at = now(), updated_at = now() where order_id = $1`,
      [id],
    )
  })
  runner.kick()
  const wait = preferredWait(headers)
  const order =
    wait === undefined
      ? await findOrder(ctx.db, id)
      : await waitForFinal(ctx, runner, id, wait, (o) => o?.status === 'CANCELLED')
  if (wait !== undefined) {
    ctx.setHeader('preference-applied', `wait=${wait}`)
    if (order?.status === 'CANCELLED') ctx.setStatus(200)
  }
  return order!
}
