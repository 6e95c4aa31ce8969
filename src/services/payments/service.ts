// The payments and billing service: payments through a provider (actions for the checkout saga,
// public reads and refunds), invoices for confirmed orders, subscriptions billed from usage.
import {
  MosaicError,
  defineService,
  on,
  requireIdentity,
  idempotencyKey,
  newestFirst,
  wantsHtml,
} from '../../kit/index.ts'
import { paymentsContract } from './contract.ts'
import { ordersContract } from '../orders/contract.ts'
import { createSimulatedProvider, type PaymentProvider, type LedgerDb } from './provider.ts'
import { authorizePayment, type PaymentsRuntime } from './authorize.ts'
import { operate } from './operations.ts'
import { paymentColumns, toPayment, visible, type PaymentRow } from './rows.ts'
import { mayAccess, listScope } from './access.ts'
import { invoiceOrder, findInvoice, toInvoice, invoiceHtml } from './invoices.ts'
import {
  listPlans,
  subscribe,
  findSubscription,
  toSubscription,
  recordUsage,
  closePeriod,
  type SubscriptionRow,
} from './subscriptions.ts'

const owned = (row: { id: string; tenant_id: string | null; user_id: string | null } | undefined) =>
  row && { id: row.id, tenantId: row.tenant_id!, ownerId: row.user_id! }
/**
 * A list's where clause: the caller's scope, narrowed to the orders asked for. One parameter an
 * order (`in ($3, $4)`), not an array parameter, so both engines type them alike.
 */
const scoped = (
  scope: { tenantId: string; userId: string | null },
  orderId: string | readonly string[] | undefined,
) => {
  const params: string[] = [scope.tenantId]
  const where = ['tenant_id = $1']
  if (scope.userId !== null) where.push(`user_id = $${params.push(scope.userId)}`)
  if (orderId !== undefined) {
    const orders = typeof orderId === 'string' ? [orderId] : orderId
    where.push(`order_id in (${orders.map((id) => `$${params.push(id)}`).join(', ')})`)
  }
  return { filter: where.join(' and '), params }
}

export interface PaymentsOptions {
  /**
   * The payment provider, or how to build one from the service's database when it starts; the
   * simulated one (test tokens, its ledger in tables of its own) unless a real one is plugged in.
   */
  readonly provider?: PaymentProvider | ((db: LedgerDb) => PaymentProvider)
}

export function createPaymentsService(options: PaymentsOptions = {}) {
  const providerFor = (db: LedgerDb): PaymentProvider =>
    typeof options.provider === 'function' ? options.provider(db) : (options.provider ?? createSimulatedProvider(db))

  return defineService(paymentsContract, {
    migrations: new URL('./migrations/', import.meta.url),

    async start(ctx): Promise<PaymentsRuntime & { stop: AbortController }> {
      const stop = new AbortController()
      return { provider: providerFor(ctx.db), stopping: stop.signal, inFlight: new Map(), stop }
    },
    async stop(ctx) {
      // Provider calls still waiting (tok_timeout) end now rather than outlive the service.
      ctx.state.stop.abort(new Error('the payments service is stopping'))
    },

    subscriptions: [on(ordersContract, 'order.confirmed', (event, tx) => invoiceOrder(event, tx))],

    routes: {
      async listPayments({ query }, ctx) {
        const { filter, params } = scoped(listScope(ctx, 'payments:list', 'payments:read', 'Payment'), query.orderId)
        return newestFirst(
          ctx.db,
          {
            table: 'payments',
            time: 'created_at',
            where: `${filter} and ${visible}`,
            params,
            limit: query.limit,
            cursor: query.cursor,
          },
          toPayment,
        )
      },
      async getPayment({ params }, ctx) {
        const [row] = await ctx.db.query<PaymentRow>(
          `select ${paymentColumns} from payments where id = $1 and ${visible}`,
          [params.id],
        )
        mayAccess(ctx, 'payments:read', 'Payment', owned(row))
        return toPayment(row!)
      },
      async refundPayment({ params, body, headers }, ctx) {
        const key = idempotencyKey(headers)
        const [row] = await ctx.db.query<PaymentRow>(
          `select ${paymentColumns} from payments where id = $1 and ${visible}`,
          [params.id],
        )
        // Who may not see it learns nothing; who may see it but not refund it is told so.
        const identity = mayAccess(ctx, 'payments:read', 'Payment', owned(row))
        if (!ctx.authorize(identity, 'payments:refund', { type: 'Payment', ...owned(row)! }))
          throw new MosaicError('forbidden', { detail: 'only staff refund payments' })
        const request = {
          key: `http:${identity.tenantId}:${identity.userId}:${key}`,
          paymentId: params.id,
          amount: body.amount,
          fingerprint: `amount=${body.amount ?? 'rest'}`,
        }
        return (await operate('refund', request, ctx, ctx.state))!
      },

      async listInvoices({ query }, ctx) {
        const { filter, params } = scoped(listScope(ctx, 'invoices:list', 'invoices:read', 'Invoice'), query.orderId)
        return newestFirst(
          ctx.db,
          { table: 'invoices', time: 'issued_at', where: filter, params, limit: query.limit, cursor: query.cursor },
          toInvoice,
        )
      },
      async getInvoice({ params, query, headers }, ctx) {
        const row = await findInvoice(ctx.db, params.id)
        mayAccess(ctx, 'invoices:read', 'Invoice', owned(row))
        ctx.setHeader('vary', 'accept')
        if (!wantsHtml(query.format, headers.accept, 'json')) return toInvoice(row!)
        ctx.setHeader('content-type', 'text/html; charset=utf-8')
        // The page is data, not an application: it may not run or load anything.
        ctx.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        return invoiceHtml(row!)
      },

      listPlans: async (_input, ctx) => ({ items: await listPlans(ctx.db) }),
      async createSubscription({ body }, ctx) {
        const identity = requireIdentity(ctx)
        if (!ctx.authorize(identity, 'subscriptions:create', { type: 'Tenant', id: identity.tenantId }))
          throw new MosaicError('forbidden')
        const row = await ctx.db.transaction((tx) => subscribe(tx, identity.tenantId, identity.userId, body.planId))
        ctx.setHeader('location', `/api/subscriptions/${row.id}`)
        return toSubscription(ctx.db, row)
      },
      async getSubscription({ params }, ctx) {
        const row = await findSubscription(ctx.db, params.id)
        mayAccess(ctx, 'subscriptions:read', 'Subscription', owned(row))
        return toSubscription(ctx.db, row!)
      },
      async recordUsage({ params, body, headers }, ctx) {
        const header = headers['idempotency-key']
        const dedupeKey = typeof header === 'string' ? idempotencyKey(headers) : body.clientId
        return ctx.db.transaction(async (tx) => {
          const row = await findSubscription(tx, params.id, true)
          mayAccess(ctx, 'subscriptions:recordUsage', 'Subscription', owned(row))
          return recordUsage(tx, row!, { quantity: body.quantity, timestamp: body.timestamp, dedupeKey })
        })
      },
      async invoiceSubscription({ params, headers }, ctx) {
        const key = idempotencyKey(headers)
        return ctx.db.transaction(async (tx) => {
          const row: SubscriptionRow | undefined = await findSubscription(tx, params.id, true)
          const identity = mayAccess(ctx, 'subscriptions:read', 'Subscription', owned(row))
          if (!ctx.authorize(identity, 'subscriptions:bill', { type: 'Subscription', ...owned(row)! }))
            throw new MosaicError('forbidden', { detail: 'only staff close billing periods' })
          return closePeriod(tx, row!, key)
        })
      },
    },

    actions: {
      authorizePayment: (input, ctx) => authorizePayment(input, ctx, ctx.state),
      capturePayment: async ({ key, orderId }, ctx) => (await operate('capture', { key, orderId }, ctx, ctx.state))!,
      voidPayment: ({ key, orderId }, ctx) => operate('void', { key, orderId }, ctx, ctx.state),
      refundPayment: async ({ key, orderId, amount }, ctx) =>
        (await operate('refund', { key, orderId, amount, fingerprint: `amount=${amount ?? 'rest'}` }, ctx, ctx.state))!,
    },
  })
}

export default createPaymentsService()
