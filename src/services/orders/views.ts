// The read model (CQRS): `order_views`, one row per order, written from the aggregate's state in
// the transaction that appends its events, and rebuilt from the event streams alone.
import { MosaicError, toAmount, newestFirst, type Sql, type Static } from '../../kit/index.ts'
import type { Order as OrderSchema } from './contract.ts'
import { initialState, replay, type Line, type OrderState, type Recorded } from './order.ts'
import type { Reducer } from './event-store.ts'

export type Order = Static<typeof OrderSchema>

export const orderReducer: Reducer<OrderState, Recorded> = { initial: initialState, replay }

interface ViewRow {
  id: string
  tenant_id: string
  user_id: string
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED'
  items: OrderState['items']
  total_minor: bigint
  currency: string
  reason: Order['reason']
  detail: string | null
  payment_id: string | null
  refunded: boolean
  version: number
  created_at: Date
  updated_at: Date
}

const columns =
  'id, tenant_id, user_id, status, items, total_minor, currency, reason, detail, payment_id, refunded, version, created_at, updated_at'

/** Upserts the view of an order from its state; an older state never overwrites a newer one. */
export async function project(tx: Sql, state: OrderState): Promise<void> {
  if (state.status === 'NEW') return
  await tx.query(
    `insert into order_views (${columns}) values ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    on conflict (id) do update set status = excluded.status, reason = excluded.reason, detail = excluded.detail, payment_id = excluded.payment_id,
      refunded = excluded.refunded, version = excluded.version, updated_at = excluded.updated_at
    where order_views.version < excluded.version`,
    [
      state.orderId,
      state.tenantId,
      state.userId,
      state.status,
      JSON.stringify(state.items),
      BigInt(state.totalMinor),
      state.currency,
      state.reason,
      state.detail,
      state.paymentId,
      state.refunded,
      state.version,
      state.createdAt,
      state.updatedAt,
    ],
  )
}

/** Lines as the API and the published events show them: decimal prices in the order's currency. */
export const linesOut = (items: readonly Line[], currency: string): Order['items'] =>
  items.map((l) => ({
    productId: l.productId,
    name: l.name,
    quantity: l.quantity,
    unitPrice: toAmount(BigInt(l.unitPriceMinor), currency),
    currency,
  }))

export function toOrder(row: ViewRow): Order {
  return {
    id: row.id,
    userId: row.user_id,
    tenantId: row.tenant_id,
    status: row.status,
    items: linesOut(row.items, row.currency),
    total: toAmount(row.total_minor, row.currency),
    currency: row.currency,
    reason: row.reason,
    detail: row.detail,
    paymentId: row.payment_id,
    refunded: row.refunded,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

/** The order as the read model shows it, from its state (the row `project` writes for it, read back). */
export const orderOf = (state: OrderState): Order =>
  toOrder({
    id: state.orderId,
    tenant_id: state.tenantId,
    user_id: state.userId,
    status: state.status as ViewRow['status'],
    items: state.items,
    total_minor: BigInt(state.totalMinor),
    currency: state.currency,
    reason: state.reason,
    detail: state.detail,
    payment_id: state.paymentId,
    refunded: state.refunded,
    version: state.version,
    created_at: new Date(state.createdAt),
    updated_at: new Date(state.updatedAt),
  })

export async function findOrder(db: Sql, id: string): Promise<Order | undefined> {
  const [row] = await db.query<ViewRow>(`select ${columns} from order_views where id = $1`, [id])
  return row ? toOrder(row) : undefined
}

export const orderNotFound = (id: string): MosaicError => new MosaicError('not_found', { detail: `no order ${id}` })

export interface ListFilter {
  tenantId: string
  userId?: string
  status?: Order['status']
  limit: number
  cursor?: string
}

/** Newest first; the cursor is (created_at in microseconds, id) of the last order of the page. */
export function listOrders(db: Sql, filter: ListFilter): Promise<{ items: Order[]; nextCursor: string | null }> {
  const params: unknown[] = [filter.tenantId]
  const where = ['tenant_id = $1']
  if (filter.userId) where.push(`user_id = $${params.push(filter.userId)}`)
  if (filter.status) where.push(`status = $${params.push(filter.status)}`)
  return newestFirst(
    db,
    {
      table: 'order_views',
      columns,
      time: 'created_at',
      where: where.join(' and '),
      params,
      limit: filter.limit,
      cursor: filter.cursor,
    },
    toOrder,
  )
}

/** Every row of the read model, in id order: what a rebuild must reproduce. */
export async function dumpViews(db: Sql): Promise<Record<string, unknown>[]> {
  return db.query(`select ${columns} from order_views order by id`)
}

/** Drops the read model and replays every stream from its first event into it. Returns how many orders. */
export async function rebuildViews(tx: Sql): Promise<number> {
  await tx.query('delete from order_views')
  const rows = await tx.query<{ stream_id: string; type: string; data: unknown; version: number; recorded_at: Date }>(
    'select stream_id, type, data, version, recorded_at from events order by stream_id, version',
  )
  let count = 0
  for (let i = 0; i < rows.length; ) {
    const stream = rows[i]!.stream_id
    const events: Recorded[] = []
    for (; i < rows.length && rows[i]!.stream_id === stream; i++) {
      const r = rows[i]!
      events.push({ type: r.type, data: r.data, version: r.version, at: r.recorded_at.toISOString() } as Recorded)
    }
    const state = replay(initialState(), events)
    await project(tx, state)
    if (state.status !== 'NEW') count++
  }
  return count
}
