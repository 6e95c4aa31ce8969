// The first span of a new trace, when the sampler does not record it, made here rather than by the
// SDK. Under load that is most requests (recent-sampler.ts keeps ten traces a second), and the
// SDK's startSpan for a span it then throws away (ids from Math.random written out as hex, its
// own metrics, attribute checks) was some 5 % of a cached read. The decision is still the
// process's sampler's: asked here first, and when it does record, the SDK builds the span on the
// very decision (`decider`) rather than asking the sampler twice, which would take a
// second token from the ring's bucket.
import { randomFillSync } from 'node:crypto'
import {
  trace,
  TraceFlags,
  INVALID_TRACEID,
  INVALID_SPANID,
  type Context,
  type Link,
  type Attributes,
  type SpanKind,
  type Span,
} from '@opentelemetry/api'
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base'

/** Random bytes for ids, filled for a few hundred traces at a time (a trace and a span id are 24 bytes). */
const pool = Buffer.allocUnsafe(24 * 256)
let used = pool.length

function freshIds(): { traceId: string; spanId: string } {
  if (used === pool.length) {
    randomFillSync(pool)
    used = 0
  }
  const hex = pool.toString('hex', used, (used += 24))
  return { traceId: hex.slice(0, 32), spanId: hex.slice(32) }
}

export interface Decider {
  /** What the SDK's tracers sample with: a decision `unrecordedRoot` just made, else `inner`'s. */
  readonly sampler: Sampler
  /**
   * A non-recording first span of a new trace under `parent`, with fresh ids, if the sampler does
   * not record it; otherwise undefined, and the SDK's next startSpan is given this decision.
   */
  unrecordedRoot(
    parent: Context,
    name: string,
    kind: SpanKind,
    attributes?: Attributes,
    links?: Link[],
  ): Span | undefined
}

export function decider(inner: Sampler): Decider {
  let decided: SamplingResult | undefined
  const sampler: Sampler = {
    shouldSample(...args) {
      const result = decided ?? inner.shouldSample(...args)
      decided = undefined
      return result
    },
    toString: () => inner.toString(),
  }
  return {
    sampler,
    unrecordedRoot(parent, name, kind, attributes = {}, links = []) {
      const { traceId, spanId } = freshIds()
      const result = inner.shouldSample(parent, traceId, name, kind, attributes, links)
      if (result.decision !== SamplingDecision.NOT_RECORD) {
        decided = result
        return undefined
      }
      // Random bytes that happen to be all zeros are no valid id (hex they always are): the SDK makes this one.
      if (traceId === INVALID_TRACEID || spanId === INVALID_SPANID) return undefined
      return trace.wrapSpanContext({
        traceId,
        spanId,
        traceFlags: TraceFlags.NONE,
        ...(result.traceState ? { traceState: result.traceState } : {}),
      })
    },
  }
}
