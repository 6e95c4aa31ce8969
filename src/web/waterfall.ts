// A trace drawn as a waterfall: one row per span, indented under its parent, with a bar placed on
// the trace's time line. The console renders the bars as SVG rectangles (x and width are SVG
// attributes, not styles, so the strict CSP without inline styles still allows them).

export interface WaterfallSpan {
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly service: string
  readonly startMs: number
  readonly durationMs: number
  readonly error: boolean
}

export interface WaterfallRow {
  readonly span: WaterfallSpan
  readonly depth: number
  /** Where the bar starts and how long it is, in thousandths of the trace's extent (a 0–1000 viewBox). */
  readonly x: number
  readonly width: number
  /** Which colour: the service's place among the trace's services. */
  readonly tone: number
  readonly offsetMs: number
}

/** Rows in tree order (each span after its parent, siblings by start); spans whose parent is not kept are roots. */
export function waterfall(spans: readonly WaterfallSpan[]): {
  rows: WaterfallRow[]
  totalMs: number
  services: string[]
} {
  if (spans.length === 0) return { rows: [], totalMs: 0, services: [] }
  const start = Math.min(...spans.map((s) => s.startMs))
  const end = Math.max(...spans.map((s) => s.startMs + s.durationMs))
  const total = Math.max(end - start, 0.001)
  const ids = new Set(spans.map((s) => s.spanId))
  const children = Map.groupBy(
    [...spans].sort((a, b) => a.startMs - b.startMs),
    (s) => (s.parentSpanId && ids.has(s.parentSpanId) ? s.parentSpanId : ''),
  )
  const services = [...new Set([...spans].sort((a, b) => a.startMs - b.startMs).map((s) => s.service))]
  const rows: WaterfallRow[] = []
  const visit = (parent: string, depth: number): void => {
    for (const span of children.get(parent) ?? []) {
      const x = ((span.startMs - start) / total) * 1000
      rows.push({
        span,
        depth,
        x: Math.round(x * 10) / 10,
        // At least a sliver, so a span of microseconds still shows.
        width: Math.max(2, Math.round(Math.min((span.durationMs / total) * 1000, 1000 - x) * 10) / 10),
        tone: services.indexOf(span.service) % 8,
        offsetMs: Math.round((span.startMs - start) * 100) / 100,
      })
      visit(span.spanId, depth + 1)
    }
  }
  visit('', 0)
  return { rows, totalMs: Math.round(total * 100) / 100, services }
}
