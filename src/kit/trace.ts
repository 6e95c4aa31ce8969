// Tracing for a service's own long-running work: work that continues a request later (a saga
// stored in a table, resumed by a runner, maybe in another process after a restart) keeps the
// request's trace by storing its context and continuing it.
import { withSpan, traceHeaders, contextFrom, type Span } from './telemetry/tracing.ts'

/** A stored trace context: the W3C `traceparent` (and `tracestate`) headers. */
export type TraceContext = Readonly<Record<string, string>>

/** The active trace context, to store with work that continues later. */
export function traceContext(): TraceContext {
  return traceHeaders()
}

/**
 * Runs `fn` in a span of the active service; with `from`, a child of that stored context (the
 * trace continues), else of the active span. A throw marks the span failed.
 */
export function traced<T>(
  name: string,
  options: { from?: TraceContext | null; attributes?: Record<string, string | number | boolean> },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return withSpan(
    name,
    { attributes: options.attributes, ...(options.from ? { parent: contextFrom(options.from) } : {}) },
    fn,
  )
}
