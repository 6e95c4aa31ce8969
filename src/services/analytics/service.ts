// The analytics service: every domain event into an append-only table, client-side tracking,
// aggregates kept current as events arrive, and reports for staff (JSON, or CSV on request).
import { Type, MosaicError, defineService, requireIdentity, type RouteContext } from '../../kit/index.ts'
import { identityContract } from '../identity/contract.ts'
import { catalogContract } from '../catalog/contract.ts'
import { ordersContract } from '../orders/contract.ts'
import { paymentsContract } from '../payments/contract.ts'
import { analyticsContract } from './contract.ts'
import { record, subscribeToAll } from './events.ts'
import { trackedEvent } from './tracking.ts'
import { dayRange, type DayRange } from './range.ts'
import { toCsv, wantsCsv } from './csv.ts'
import {
  salesReport,
  salesTable,
  topProductsReport,
  topProductsTable,
  funnelReport,
  funnelTable,
  failedLoginsReport,
  failedLoginsTable,
  type Table,
} from './reports.ts'

const config = Type.Object({
  ANALYTICS_REPORT_MAX_DAYS: Type.Integer({
    minimum: 1,
    maximum: 3660,
    default: 732,
    description: 'Longest date range a report may cover',
  }),
  ANALYTICS_TRACK_MAX_AGE_SECONDS: Type.Integer({
    minimum: 60,
    default: 7 * 86_400,
    description: 'Oldest client timestamp accepted',
  }),
  ANALYTICS_TRACK_MAX_SKEW_SECONDS: Type.Integer({
    minimum: 0,
    default: 300,
    description: 'How far in the future a client timestamp may be',
  }),
})

type Ctx = RouteContext<typeof analyticsContract, { ANALYTICS_REPORT_MAX_DAYS: number }>

/** Staff of the caller's tenant (the gateway checks the role; the policies decide here too). The tenant to report on. */
function reportTenant(ctx: Ctx): string {
  const identity = requireIdentity(ctx)
  if (!ctx.authorize(identity, 'analytics:read', { type: 'Tenant', id: identity.tenantId }))
    throw new MosaicError('forbidden', { detail: 'reports are for staff' })
  return identity.tenantId
}

/** Runs a report for the caller's tenant over the asked range; CSV instead of JSON when the client accepts it. */
async function report<R>(
  name: string,
  input: { query: { from?: string; to?: string }; headers: Readonly<Record<string, string | string[] | undefined>> },
  ctx: Ctx,
  run: (tenant: string, range: DayRange) => Promise<R>,
  table: (report: R) => Table,
): Promise<R | string> {
  const tenant = reportTenant(ctx)
  const result = await run(tenant, dayRange(input.query, ctx.config.ANALYTICS_REPORT_MAX_DAYS))
  if (!wantsCsv(input.headers.accept)) return result
  const { header, rows } = table(result)
  const { from, to } = result as { from: string; to: string }
  ctx.setHeader('content-type', 'text/csv; charset=utf-8')
  ctx.setHeader('content-disposition', `attachment; filename="${name}-${from}-${to}.csv"`)
  return toCsv(header, rows)
}

export default defineService(analyticsContract, {
  migrations: new URL('./migrations/', import.meta.url),
  config,
  subscriptions: subscribeToAll([identityContract, catalogContract, ordersContract, paymentsContract]),

  routes: {
    async track({ body, headers }, ctx) {
      const event = trackedEvent(body, headers['x-visitor-id'], ctx.identity, {
        maxAgeSeconds: ctx.config.ANALYTICS_TRACK_MAX_AGE_SECONDS,
        maxSkewSeconds: ctx.config.ANALYTICS_TRACK_MAX_SKEW_SECONDS,
      })
      await ctx.db.transaction((tx) => record(tx, event))
      return { id: event.id, time: event.time }
    },
    salesReport: (input, ctx) =>
      report(
        'sales',
        input,
        ctx,
        (tenant, range) => salesReport(ctx.db, tenant, range, input.query.interval),
        salesTable,
      ),
    topProductsReport: (input, ctx) =>
      report(
        'top-products',
        input,
        ctx,
        (tenant, range) => topProductsReport(ctx.db, tenant, range, input.query.limit),
        topProductsTable,
      ),
    funnelReport: (input, ctx) =>
      report('funnel', input, ctx, (tenant, range) => funnelReport(ctx.db, tenant, range), funnelTable),
    failedLoginsReport: (input, ctx) =>
      report(
        'failed-logins',
        input,
        ctx,
        (tenant, range) => failedLoginsReport(ctx.db, tenant, range),
        failedLoginsTable,
      ),
  },
  actions: {},
})
