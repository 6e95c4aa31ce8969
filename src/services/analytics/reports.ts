// The reports: reads of the aggregates over a tenant's range of days. Amounts are summed in minor
// units in SQL and turned into decimals only here, at the JSON (or CSV) edge.
import { toAmount, type Sql, type Static } from '../../kit/index.ts'
import type { analyticsContract } from './contract.ts'
import type { DayRange } from './range.ts'
import type { Cell } from './csv.ts'

type Routes = typeof analyticsContract.routes
export type SalesReport = Static<Routes['salesReport']['response']>
export type TopProductsReport = Static<Routes['topProductsReport']['response']>
export type FunnelReport = Static<Routes['funnelReport']['response']>
export type FailedLoginsReport = Static<Routes['failedLoginsReport']['response']>

/** A report as CSV: its header and rows. */
export interface Table {
  readonly header: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
}

export async function salesReport(
  db: Sql,
  tenant: string,
  range: DayRange,
  interval: 'day' | 'week' | 'month',
): Promise<SalesReport> {
  const rows = await db.query<{
    period: string
    currency: string
    placed: bigint
    confirmed: bigint
    revenue: bigint
    refunds: bigint
  }>(
    `select to_char(date_trunc($4, day), 'YYYY-MM-DD') as period, currency,
       sum(orders_placed)::bigint as placed, sum(orders_confirmed)::bigint as confirmed,
       sum(revenue_minor)::bigint as revenue, sum(refunds_minor)::bigint as refunds
     from sales_daily where tenant_id = $1 and day between $2::date and $3::date
     group by 1, 2 order by 1, 2`,
    [tenant, range.from, range.to, interval],
  )
  return {
    ...range,
    interval,
    rows: rows.map((r) => ({
      period: r.period,
      currency: r.currency,
      ordersPlaced: Number(r.placed),
      ordersConfirmed: Number(r.confirmed),
      revenue: toAmount(r.revenue, r.currency),
      refunds: toAmount(r.refunds, r.currency),
    })),
  }
}

export const salesTable = (r: SalesReport): Table => ({
  header: ['period', 'currency', 'orders_placed', 'orders_confirmed', 'revenue', 'refunds'],
  rows: r.rows.map((x) => [x.period, x.currency, x.ordersPlaced, x.ordersConfirmed, x.revenue, x.refunds]),
})

export async function topProductsReport(
  db: Sql,
  tenant: string,
  range: DayRange,
  limit: number,
): Promise<TopProductsReport> {
  const rows = await db.query<{
    product_id: string
    currency: string
    name: string
    quantity: bigint
    revenue: bigint
  }>(
    `select product_id, currency, sum(quantity)::bigint as quantity, sum(revenue_minor)::bigint as revenue,
       (array_agg(name order by name_time desc, name_event desc))[1] as name
     from product_sales_daily where tenant_id = $1 and day between $2::date and $3::date
     group by product_id, currency order by quantity desc, revenue desc, product_id, currency limit $4`,
    [tenant, range.from, range.to, limit],
  )
  return {
    ...range,
    items: rows.map((r) => ({
      productId: r.product_id,
      name: r.name,
      currency: r.currency,
      quantity: Number(r.quantity),
      revenue: toAmount(r.revenue, r.currency),
    })),
  }
}

export const topProductsTable = (r: TopProductsReport): Table => ({
  header: ['product_id', 'name', 'currency', 'quantity', 'revenue'],
  rows: r.items.map((x) => [x.productId, x.name, x.currency, x.quantity, x.revenue]),
})

const STAGES = ['product_viewed', 'order_placed', 'order_confirmed'] as const

/**
 * A strict funnel: an actor counts at a step when they did it and every step before it in the
 * range (in any order within the range: events may arrive, and clocks may disagree, out of order).
 */
export async function funnelReport(db: Sql, tenant: string, range: DayRange): Promise<FunnelReport> {
  const [row] = await db.query<{ a0: bigint; a1: bigint; a2: bigint; e0: bigint; e1: bigint; e2: bigint }>(
    `with actors as (
       select actor, bool_or(stage = 'product_viewed') as viewed, bool_or(stage = 'order_placed') as placed, bool_or(stage = 'order_confirmed') as confirmed,
         sum(events) filter (where stage = 'product_viewed') as e0, sum(events) filter (where stage = 'order_placed') as e1,
         sum(events) filter (where stage = 'order_confirmed') as e2
       from funnel_daily where tenant_id = $1 and day between $2::date and $3::date group by actor)
     select count(*) filter (where viewed) as a0, count(*) filter (where viewed and placed) as a1,
       count(*) filter (where viewed and placed and confirmed) as a2,
       coalesce(sum(e0), 0)::bigint as e0, coalesce(sum(e1), 0)::bigint as e1, coalesce(sum(e2), 0)::bigint as e2
     from actors`,
    [tenant, range.from, range.to],
  )
  const actors = [row!.a0, row!.a1, row!.a2].map(Number)
  const events = [row!.e0, row!.e1, row!.e2].map(Number)
  return {
    ...range,
    stages: STAGES.map((stage, i) => ({
      stage,
      actors: actors[i]!,
      events: events[i]!,
      conversion:
        i === 0 ? null : actors[i - 1]! === 0 ? null : Math.round((actors[i]! / actors[i - 1]!) * 10_000) / 10_000,
    })),
  }
}

export const funnelTable = (r: FunnelReport): Table => ({
  header: ['stage', 'actors', 'events', 'conversion'],
  rows: r.stages.map((s) => [s.stage, s.actors, s.events, s.conversion]),
})

export async function failedLoginsReport(db: Sql, tenant: string, range: DayRange): Promise<FailedLoginsReport> {
  const rows = await db.query<{ day: string; failures: bigint }>(
    `select to_char(day, 'YYYY-MM-DD') as day, failures from failed_logins_daily
     where tenant_id = $1 and day between $2::date and $3::date order by day`,
    [tenant, range.from, range.to],
  )
  return { ...range, rows: rows.map((r) => ({ day: r.day, failures: Number(r.failures) })) }
}

export const failedLoginsTable = (r: FailedLoginsReport): Table => ({
  header: ['day', 'failures'],
  rows: r.rows.map((x) => [x.day, x.failures]),
})
