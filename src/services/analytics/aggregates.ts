// The aggregates, kept current in the transaction that records each event. Every update is an
// addition (or a set insertion) keyed by the event's own day, so arrival order does not matter,
// and it runs only for an event recorded for the first time, so a redelivery adds nothing.
import { toMinor, type Sql } from '../../kit/index.ts'
import type { Recorded } from './events.ts'

interface Line {
  productId: string
  name: string
  quantity: number
  unitPrice: number
  currency: string
}
interface OrderData {
  userId: string
  tenantId: string
  currency: string
  total: number
  items?: Line[]
}

/** The UTC day of an instant, as the aggregates' key. */
export const dayOf = (time: string): string => new Date(time).toISOString().slice(0, 10)

export type Stage = 'product_viewed' | 'order_placed' | 'order_confirmed'

async function addSales(
  tx: Sql,
  tenant: string,
  day: string,
  currency: string,
  change: { placed?: number; confirmed?: number; revenue?: bigint; refunds?: bigint },
): Promise<void> {
  await tx.query(
    `insert into sales_daily as s (tenant_id, day, currency, orders_placed, orders_confirmed, revenue_minor, refunds_minor)
    values ($1, $2, $3, $4, $5, $6, $7)
    on conflict (tenant_id, day, currency) do update set orders_placed = s.orders_placed + excluded.orders_placed,
      orders_confirmed = s.orders_confirmed + excluded.orders_confirmed, revenue_minor = s.revenue_minor + excluded.revenue_minor,
      refunds_minor = s.refunds_minor + excluded.refunds_minor`,
    [tenant, day, currency, change.placed ?? 0, change.confirmed ?? 0, change.revenue ?? 0n, change.refunds ?? 0n],
  )
}

async function addFunnel(tx: Sql, tenant: string, day: string, stage: Stage, actor: string): Promise<void> {
  await tx.query(
    `insert into funnel_daily as f (tenant_id, day, stage, actor, events) values ($1, $2, $3, $4, 1)
    on conflict (tenant_id, day, stage, actor) do update set events = f.events + 1`,
    [tenant, day, stage, actor],
  )
}

async function addProductSales(tx: Sql, event: Recorded, tenant: string, day: string, line: Line): Promise<void> {
  const revenue = toMinor(line.unitPrice, line.currency, '/items/unitPrice') * BigInt(line.quantity)
  await tx.query(
    `insert into product_sales_daily as p (tenant_id, day, product_id, currency, quantity, revenue_minor, name, name_time, name_event)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    on conflict (tenant_id, day, product_id, currency) do update set quantity = p.quantity + excluded.quantity,
      revenue_minor = p.revenue_minor + excluded.revenue_minor,
      name = case when (excluded.name_time, excluded.name_event) > (p.name_time, p.name_event) then excluded.name else p.name end,
      name_time = greatest(p.name_time, excluded.name_time),
      name_event = case when (excluded.name_time, excluded.name_event) > (p.name_time, p.name_event) then excluded.name_event else p.name_event end`,
    [tenant, day, line.productId, line.currency, line.quantity, revenue, line.name, event.time, event.id],
  )
}

type Aggregator = (tx: Sql, event: Recorded, tenant: string, day: string) => Promise<void>

/** What each kind of event adds, by `source/type`. Events not listed are kept raw only. */
const aggregators: Record<string, Aggregator> = {
  'orders/order.placed': async (tx, event, tenant, day) => {
    const order = event.data as OrderData
    await addSales(tx, tenant, day, order.currency, { placed: 1 })
    await addFunnel(tx, tenant, day, 'order_placed', `user:${order.userId}`)
  },
  'orders/order.confirmed': async (tx, event, tenant, day) => {
    const order = event.data as OrderData
    await addSales(tx, tenant, day, order.currency, {
      confirmed: 1,
      revenue: toMinor(order.total, order.currency, '/total'),
    })
    for (const line of order.items ?? []) await addProductSales(tx, event, tenant, day, line)
    await addFunnel(tx, tenant, day, 'order_confirmed', `user:${order.userId}`)
  },
  'payments/payment.refunded': async (tx, event, tenant, day) => {
    const refund = event.data as { amount: number; currency: string }
    await addSales(tx, tenant, day, refund.currency, { refunds: toMinor(refund.amount, refund.currency, '/amount') })
  },
  'identity/user.login_failed': async (tx, _event, tenant, day) => {
    await tx.query(
      `insert into failed_logins_daily as f (tenant_id, day, failures) values ($1, $2, 1)
      on conflict (tenant_id, day) do update set failures = f.failures + 1`,
      [tenant, day],
    )
  },
  'client/product_viewed': async (tx, event, tenant, day) => {
    await addFunnel(tx, tenant, day, 'product_viewed', actorOf(event)!)
  },
}

/** Who did it, for the funnel: the signed-in user, else the anonymous visitor. */
export const actorOf = (event: Pick<Recorded, 'userId' | 'visitorId'>): string | undefined =>
  event.userId ? `user:${event.userId}` : event.visitorId ? `visitor:${event.visitorId}` : undefined

export async function aggregate(tx: Sql, event: Recorded): Promise<void> {
  const add = aggregators[`${event.source}/${event.type}`]
  if (add && event.tenantId) await add(tx, event, event.tenantId, dayOf(event.time))
}
