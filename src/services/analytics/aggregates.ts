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

/**
 * What a batch of events adds to each aggregate table: one row per event and key, summed by key in
 * the one statement per table that `write` sends at the end of the batch. A row a batch touches is
 * locked from its upsert until the commit, and the sales row of a tenant's day is touched by every
 * order placed and confirmed (two subscriptions, side by side): upserted per event, each
 * transaction held it across the rest of its batch while the other waited (bench/checkout.ts on
 * PostgreSQL: 36–48 ms of lock wait per order in that one statement, 2 statements per order).
 */
export interface Additions {
  readonly sales: {
    tenant: string
    day: string
    currency: string
    placed: number
    confirmed: number
    revenue: string
    refunds: string
  }[]
  readonly products: {
    tenant: string
    day: string
    product: string
    currency: string
    quantity: number
    revenue: string
    name: string
    time: string
    event: string
  }[]
  readonly funnel: { tenant: string; day: string; stage: Stage; actor: string }[]
  readonly logins: { tenant: string; day: string }[]
}

export const noAdditions = (): Additions => ({ sales: [], products: [], funnel: [], logins: [] })

type Sales = { placed?: number; confirmed?: number; revenue?: bigint; refunds?: bigint }
const sales = (a: Additions, tenant: string, day: string, currency: string, change: Sales): void => {
  a.sales.push({
    tenant,
    day,
    currency,
    placed: change.placed ?? 0,
    confirmed: change.confirmed ?? 0,
    // bigint as a JSON string: jsonb_to_recordset reads it with bigint's own input.
    revenue: String(change.revenue ?? 0n),
    refunds: String(change.refunds ?? 0n),
  })
}

type Aggregator = (a: Additions, event: Recorded, tenant: string, day: string) => void

/** What each kind of event adds, by `source/type`. Events not listed are kept raw only. */
const aggregators: Record<string, Aggregator> = {
  'orders/order.placed': (a, event, tenant, day) => {
    const order = event.data as OrderData
    sales(a, tenant, day, order.currency, { placed: 1 })
    a.funnel.push({ tenant, day, stage: 'order_placed', actor: `user:${order.userId}` })
  },
  'orders/order.confirmed': (a, event, tenant, day) => {
    const order = event.data as OrderData
    sales(a, tenant, day, order.currency, { confirmed: 1, revenue: toMinor(order.total, order.currency, '/total') })
    for (const line of order.items ?? []) {
      const revenue = toMinor(line.unitPrice, line.currency, '/items/unitPrice') * BigInt(line.quantity)
      a.products.push({
        tenant,
        day,
        product: line.productId,
        currency: line.currency,
        quantity: line.quantity,
        revenue: String(revenue),
        name: line.name,
        time: event.time,
        event: event.id,
      })
    }
    a.funnel.push({ tenant, day, stage: 'order_confirmed', actor: `user:${order.userId}` })
  },
  'payments/payment.refunded': (a, event, tenant, day) => {
    const refund = event.data as { amount: number; currency: string }
    sales(a, tenant, day, refund.currency, { refunds: toMinor(refund.amount, refund.currency, '/amount') })
  },
  'identity/user.login_failed': (a, _event, tenant, day) => {
    a.logins.push({ tenant, day })
  },
  'client/product_viewed': (a, event, tenant, day) => {
    a.funnel.push({ tenant, day, stage: 'product_viewed', actor: actorOf(event)! })
  },
}

/** Who did it, for the funnel: the signed-in user, else the anonymous visitor. */
export const actorOf = (event: Pick<Recorded, 'userId' | 'visitorId'>): string | undefined =>
  event.userId ? `user:${event.userId}` : event.visitorId ? `visitor:${event.visitorId}` : undefined

/** Adds what `event` adds to the aggregates to `into` (written by `write`). */
export function aggregate(into: Additions, event: Recorded): void {
  const add = aggregators[`${event.source}/${event.type}`]
  if (add && event.tenantId) add(into, event, event.tenantId, dayOf(event.time))
}

/**
 * Writes a batch's additions: per table, one upsert of the rows summed by key (a key may not come
 * twice in one upsert), in key order, the tables always in this order, so two batches lock shared
 * rows in the same order and cannot deadlock. Sent last in the batch's transaction, just before
 * its commit, so the rows are held for as short a time as can be.
 */
export async function write(tx: Sql, a: Additions): Promise<void> {
  const rows = (list: readonly object[]): string => JSON.stringify(list)
  if (a.sales.length > 0)
    await tx.query(
      `insert into sales_daily as s (tenant_id, day, currency, orders_placed, orders_confirmed, revenue_minor, refunds_minor)
      select tenant, day, currency, sum(placed), sum(confirmed), sum(revenue), sum(refunds)
      from jsonb_to_recordset($1::text::jsonb) as r(tenant text, day date, currency char(3), placed bigint, confirmed bigint, revenue bigint, refunds bigint)
      group by 1, 2, 3 order by 1, 2, 3
      on conflict (tenant_id, day, currency) do update set orders_placed = s.orders_placed + excluded.orders_placed,
        orders_confirmed = s.orders_confirmed + excluded.orders_confirmed, revenue_minor = s.revenue_minor + excluded.revenue_minor,
        refunds_minor = s.refunds_minor + excluded.refunds_minor`,
      [rows(a.sales)],
    )
  // The product's name as of the latest event (by its time, then id), within the batch as against the
  // row; of an order's lines for one product, the first (`n`), as when each line was upserted in turn.
  if (a.products.length > 0)
    await tx.query(
      `insert into product_sales_daily as p (tenant_id, day, product_id, currency, quantity, revenue_minor, name, name_time, name_event)
      select tenant, day, product, currency, sum(quantity), sum(revenue),
        (array_agg(name order by time desc, event desc, n))[1], max(time), (array_agg(event order by time desc, event desc))[1]
      from rows from (jsonb_to_recordset($1::text::jsonb) as (tenant text, day date, product text, currency char(3),
        quantity bigint, revenue bigint, name text, time timestamptz, event text))
        with ordinality as r(tenant, day, product, currency, quantity, revenue, name, time, event, n)
      group by 1, 2, 3, 4 order by 1, 2, 3, 4
      on conflict (tenant_id, day, product_id, currency) do update set quantity = p.quantity + excluded.quantity,
        revenue_minor = p.revenue_minor + excluded.revenue_minor,
        name = case when (excluded.name_time, excluded.name_event) > (p.name_time, p.name_event) then excluded.name else p.name end,
        name_time = greatest(p.name_time, excluded.name_time),
        name_event = case when (excluded.name_time, excluded.name_event) > (p.name_time, p.name_event) then excluded.name_event else p.name_event end`,
      [rows(a.products)],
    )
  if (a.funnel.length > 0)
    await tx.query(
      `insert into funnel_daily as f (tenant_id, day, stage, actor, events)
      select tenant, day, stage, actor, count(*) from jsonb_to_recordset($1::text::jsonb) as r(tenant text, day date, stage text, actor text)
      group by 1, 2, 3, 4 order by 1, 2, 3, 4
      on conflict (tenant_id, day, stage, actor) do update set events = f.events + excluded.events`,
      [rows(a.funnel)],
    )
  if (a.logins.length > 0)
    await tx.query(
      `insert into failed_logins_daily as f (tenant_id, day, failures)
      select tenant, day, count(*) from jsonb_to_recordset($1::text::jsonb) as r(tenant text, day date)
      group by 1, 2 order by 1, 2
      on conflict (tenant_id, day) do update set failures = f.failures + excluded.failures`,
      [rows(a.logins)],
    )
}
