// A report's date range: whole UTC days, `from` ≤ `to`, and not longer than the configured bound
// (a report scans its days' rows: an unbounded range is an unbounded query).
import { MosaicError } from '../../kit/index.ts'

export interface DayRange {
  readonly from: string
  readonly to: string
}

const DAY_MS = 86_400_000
const bad = (path: string, message: string): MosaicError =>
  new MosaicError('invalid_parameters', { issues: [{ path, code: 'range', message }] })

/** A real calendar day (2024-02-30 is not), as epoch milliseconds. */
function parseDay(value: string, path: string): number {
  const ms = Date.parse(`${value}T00:00:00Z`)
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value)
    throw bad(path, `${value} is not a calendar date`)
  return ms
}

export function dayRange(query: { from?: string; to?: string }, maxDays: number, now = Date.now()): DayRange {
  const to = query.to === undefined ? Math.floor(now / DAY_MS) * DAY_MS : parseDay(query.to, '/to')
  const from = query.from === undefined ? to - 29 * DAY_MS : parseDay(query.from, '/from')
  if (from > to) throw bad('/from', 'must not be after `to`')
  const days = (to - from) / DAY_MS + 1
  if (days > maxDays) throw bad('/from', `the range may cover at most ${maxDays} days (asked for ${days})`)
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  return { from: iso(from), to: iso(to) }
}
