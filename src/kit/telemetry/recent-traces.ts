// The last finished spans of this process, grouped by trace, for the operator console's waterfall
// (gateway/ops). A span processor keeping a bounded ring in memory: RECENT_TRACES traces, each at
// most MAX_SPANS_PER_TRACE spans, the oldest trace dropped first. No collector is needed to see
// what a request did; for history, search and sampling there is OTLP (OTEL_EXPORTER_OTLP_ENDPOINT).
//
// Each process keeps its own ring, and the gateway asks every instance for its spans and joins
// them by trace id (a pull, not an export to the gateway): nothing is sent while nobody looks, a
// process's memory for this stays bounded by its own setting, and the gateway holds no state.
import type { Context } from '@opentelemetry/api'
import { hrTimeToMilliseconds, hrTimeToMicroseconds } from '@opentelemetry/core'
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base'
import { keptForRecent } from './recent-sampler.ts'

/** A span as the console draws it: times in epoch milliseconds. */
export interface SpanRecord {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly service: string
  readonly kind: number
  readonly startMs: number
  readonly durationMs: number
  readonly error: boolean
  readonly attributes: Readonly<Record<string, string | number | boolean>>
}

/** A trace holding this many spans (a batch of thousands of events, say) keeps its first ones only. */
export const MAX_SPANS_PER_TRACE = 500

export interface RecentTraces extends SpanProcessor {
  /** Spans kept, oldest trace first; only those of `traceId` when given. */
  spans(traceId?: string): SpanRecord[]
}

const scalar = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'

export function recentTracesProcessor(maxTraces: number): RecentTraces {
  // A Map keeps insertion order: its first key is the oldest trace.
  const traces = new Map<string, SpanRecord[]>()
  return {
    onStart(_span: Span, _context: Context) {},
    onEnd(span: ReadableSpan) {
      // Exported traces are all recorded; the ring takes those its sampler marked (recent-sampler.ts).
      if (!keptForRecent(span.spanContext())) return
      const { traceId, spanId } = span.spanContext()
      let kept = traces.get(traceId)
      if (!kept) {
        traces.set(traceId, (kept = []))
        if (traces.size > maxTraces) traces.delete(traces.keys().next().value!)
      }
      if (kept.length >= MAX_SPANS_PER_TRACE) return
      const parent = span.parentSpanContext?.spanId
      kept.push({
        traceId,
        spanId,
        ...(parent ? { parentSpanId: parent } : {}),
        name: span.name,
        service: String(span.resource.attributes['service.name'] ?? 'unknown'),
        kind: span.kind,
        startMs: hrTimeToMilliseconds(span.startTime),
        durationMs: hrTimeToMicroseconds(span.duration) / 1000,
        error: span.status.code === 2,
        attributes: Object.fromEntries(Object.entries(span.attributes).filter(([, v]) => scalar(v))) as Record<
          string,
          string | number | boolean
        >,
      })
    },
    spans(traceId) {
      if (traceId) return [...(traces.get(traceId) ?? [])]
      return [...traces.values()].flat()
    },
    forceFlush: async () => {},
    shutdown: async () => {
      traces.clear()
    },
  }
}
