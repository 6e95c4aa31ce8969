// The analytics contract: client-side tracking and the staff reports. Analytics publishes no
// events and offers no actions; it only listens (see subscriptions.ts).
import { Type, Limit, defineContract } from '../../kit/index.ts'

/** A calendar day (UTC), inclusive at both ends of a report's range. */
const day = (description: string) => Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description })
const Range = {
  from: Type.Optional(day('First day (UTC, YYYY-MM-DD), inclusive; default: 29 days before `to`')),
  to: Type.Optional(day('Last day (UTC, YYYY-MM-DD), inclusive; default: today')),
}
const RangeOut = { from: Type.String(), to: Type.String() }

/** An opaque id a browser keeps for an anonymous visitor (a UUID, say). */
export const VISITOR_ID = /^[A-Za-z0-9_-]{8,64}$/

const TrackBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'snake_case, e.g. product_viewed' }),
    properties: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'A flat-ish object: at most 4 KiB as JSON, nesting depth 3',
      }),
    ),
    timestamp: Type.Optional(
      Type.String({ format: 'date-time', maxLength: 40, description: 'When it happened on the client; default: now' }),
    ),
    visitorId: Type.Optional(
      Type.String({
        pattern: VISITOR_ID.source,
        description: 'Or the X-Visitor-Id header; required when not signed in',
      }),
    ),
  },
  { additionalProperties: false },
)

const Interval = Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')], { default: 'day' })

const SalesRow = Type.Object({
  period: Type.String({ description: 'First day of the period (weeks start on Monday)' }),
  currency: Type.String(),
  ordersPlaced: Type.Integer(),
  ordersConfirmed: Type.Integer(),
  revenue: Type.Number({ description: 'Totals of confirmed orders' }),
  refunds: Type.Number({ description: 'Money refunded in the period' }),
})
const ProductRow = Type.Object({
  productId: Type.String(),
  name: Type.String(),
  currency: Type.String(),
  quantity: Type.Integer(),
  revenue: Type.Number(),
})
const Stage = Type.Object({
  stage: Type.Union([Type.Literal('product_viewed'), Type.Literal('order_placed'), Type.Literal('order_confirmed')]),
  actors: Type.Integer({
    description: 'Distinct users or visitors who did this step and every step before it in the range',
  }),
  events: Type.Integer({ description: 'All events of this step in the range' }),
  conversion: Type.Union([Type.Number(), Type.Null()], { description: 'actors / actors of the previous step' }),
})

const csv = ['text/csv'] as const

export const analyticsContract = defineContract({
  name: 'analytics',
  version: '1.0.0',
  routes: {
    track: {
      method: 'POST',
      path: '/api/analytics/events',
      summary: 'Record a client-side event (signed in, or anonymous with a visitor id)',
      body: TrackBody,
      status: 202,
      response: Type.Object({ id: Type.String(), time: Type.String() }),
      errors: ['payload_too_large', 'validation_failed', 'too_many_requests'],
    },
    salesReport: {
      method: 'GET',
      path: '/api/analytics/reports/sales',
      summary: 'Orders and revenue per day, week or month, per currency (CSV with Accept: text/csv)',
      query: Type.Object({ ...Range, interval: Interval }, { additionalProperties: false }),
      response: Type.Object({ ...RangeOut, interval: Type.String(), rows: Type.Array(SalesRow) }),
      produces: csv,
    },
    topProductsReport: {
      method: 'GET',
      path: '/api/analytics/reports/top-products',
      summary: 'Best-selling products by quantity in confirmed orders (CSV with Accept: text/csv)',
      query: Type.Object({ ...Range, limit: Limit(100, 10) }, { additionalProperties: false }),
      response: Type.Object({ ...RangeOut, items: Type.Array(ProductRow) }),
      produces: csv,
    },
    funnelReport: {
      method: 'GET',
      path: '/api/analytics/reports/funnel',
      summary: 'Product viewed → order placed → order confirmed (CSV with Accept: text/csv)',
      query: Type.Object(Range, { additionalProperties: false }),
      response: Type.Object({ ...RangeOut, stages: Type.Array(Stage) }),
      produces: csv,
    },
    failedLoginsReport: {
      method: 'GET',
      path: '/api/analytics/reports/failed-logins',
      summary: 'Failed sign-ins per day (CSV with Accept: text/csv)',
      query: Type.Object(Range, { additionalProperties: false }),
      response: Type.Object({
        ...RangeOut,
        rows: Type.Array(Type.Object({ day: Type.String(), failures: Type.Integer() })),
      }),
      produces: csv,
    },
  },
  actions: {},
  events: {},
})

export type AnalyticsContract = typeof analyticsContract
