// Request rate, errors and p99 per route over the last minute, from the histogram the process
// already keeps (http_server_request_duration_seconds). The histogram counts since the process
// started; a snapshot every few seconds, kept for a minute, turns that into a window: the figures
// are the difference between now and the oldest snapshot. prom-client has no windowed view, and a
// second histogram per route would double the cost of every request for a page few people open.
import type { Histogram } from 'prom-client'

/** Cumulative counts of one route and status: per bucket upper bound (seconds), and in all. */
interface Counts {
  readonly buckets: ReadonlyMap<number, number>
  readonly count: number
}
type Snapshot = { readonly at: number; readonly series: ReadonlyMap<string, Counts> }

export interface RouteRow {
  method: string
  route: string
  service: string
  requests: number
  perSecond: number
  errors: number
  clientErrors: number
  p99Ms: number | null
}

const key = (l: Record<string, unknown>) =>
  JSON.stringify([l.http_request_method, l.http_route, l.service, l.http_response_status_code])

async function read(histogram: Histogram, at: number): Promise<Snapshot> {
  const series = new Map<string, { buckets: Map<number, number>; count: number }>()
  for (const v of (await histogram.get()).values) {
    const k = key(v.labels)
    let s = series.get(k)
    if (!s) series.set(k, (s = { buckets: new Map(), count: 0 }))
    if (v.metricName?.endsWith('_bucket'))
      s.buckets.set(v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), v.value)
    else if (v.metricName?.endsWith('_count')) s.count = v.value
  }
  return { at, series }
}

/** The smallest bucket bound holding the 99th percentile of cumulative `buckets` (ms; null when empty or past the last bound). */
export function p99(buckets: ReadonlyMap<number, number>): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b)
  const total = buckets.get(Infinity) ?? 0
  if (total === 0) return null
  const bound = bounds.find((b) => buckets.get(b)! >= total * 0.99)
  return bound === undefined || bound === Infinity ? null : bound * 1000
}

/** Per route (method, path, answering service): the requests between `from` and `to`. */
export function compare(from: Snapshot | undefined, to: Snapshot): { windowSeconds: number; routes: RouteRow[] } {
  const seconds = Math.max(0.001, (to.at - (from?.at ?? to.at)) / 1000)
  const rows = new Map<string, RouteRow & { buckets: Map<number, number> }>()
  for (const [k, now] of to.series) {
    const before = from?.series.get(k)
    const count = now.count - (before?.count ?? 0)
    if (count <= 0) continue
    const [method, route, service, status] = JSON.parse(k) as [string, string, string, number | string]
    const rowKey = JSON.stringify([method, route, service])
    let row = rows.get(rowKey)
    if (!row)
      rows.set(
        rowKey,
        (row = {
          method,
          route,
          service,
          requests: 0,
          perSecond: 0,
          errors: 0,
          clientErrors: 0,
          p99Ms: null,
          buckets: new Map(),
        }),
      )
    row.requests += count
    const code = Number(status)
    if (code >= 500) row.errors += count
    else if (code >= 400) row.clientErrors += count
    for (const [bound, n] of now.buckets)
      row.buckets.set(bound, (row.buckets.get(bound) ?? 0) + n - (before?.buckets.get(bound) ?? 0))
  }
  return {
    windowSeconds: Math.round(seconds * 10) / 10,
    routes: [...rows.values()]
      .map(({ buckets, ...row }) => ({
        ...row,
        perSecond: Math.round((row.requests / seconds) * 100) / 100,
        p99Ms: p99(buckets),
      }))
      .sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route)),
  }
}

export interface RouteStatsOptions {
  readonly everyMs?: number
  readonly windowMs?: number
}

/** Keeps the snapshots; `report()` gives the last window (since start, while younger than that). */
export function createRouteStats(
  histogram: Histogram,
  { everyMs = 10_000, windowMs = 60_000 }: RouteStatsOptions = {},
) {
  const empty: Snapshot = { at: Date.now(), series: new Map() }
  const snapshots: Snapshot[] = [empty]
  const timer = setInterval(() => {
    void read(histogram, Date.now()).then((s) => {
      snapshots.push(s)
      while (snapshots.length > 1 && s.at - snapshots[0]!.at > windowMs) snapshots.shift()
    })
  }, everyMs).unref()
  return {
    async report() {
      return compare(snapshots[0], await read(histogram, Date.now()))
    },
    close: () => clearInterval(timer),
  }
}
