// Which traces the ring of recent traces (recent-traces.ts) keeps: at most RECENT_TRACES_PER_SECOND
// new ones a second per process, every one while traffic stays below that. Recording every span of
// every request cost about a quarter of a cached read's CPU; under load the console needs a sample,
// and a developer's clicks or a checkout's waterfall are still all there at low traffic.
//
// The decision is made once, where a trace starts, and travels with it: a kept trace carries
// `mosaic=recent` in its W3C tracestate, which children inherit and `traceparent`/`tracestate`
// carry into other processes and into events, so the ring of every process keeps the whole trace
// and nothing else. A parent's decision is always followed (ParentBasedSampler).
//
// The OTLP exporter, when configured, keeps its own semantics: every trace is recorded and sampled
// as before, and the marker only tells the ring which of them to keep. Without an exporter, a trace
// the ring does not keep is not recorded at all (non-recording spans, real trace ids).
import { createTraceState, trace, type Context, type SpanContext, type TraceState } from '@opentelemetry/api'
import { ParentBasedSampler, SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base'

const KEY = 'mosaic'
const VALUE = 'recent'

/** Whether the ring keeps spans of this trace (its tracestate says so). */
export const keptForRecent = (ctx: SpanContext): boolean => ctx.traceState?.get(KEY) === VALUE

/** A token bucket: `perSecond` a second on average, at most `perSecond` at once. */
export function rateLimit(perSecond: number, now: () => number = performance.now.bind(performance)): () => boolean {
  let tokens = perSecond
  let last = now()
  return function take() {
    const t = now()
    tokens = Math.min(perSecond, tokens + ((t - last) * perSecond) / 1000)
    last = t
    if (tokens < 1) return false
    tokens -= 1
    return true
  }
}

export interface RecentSamplerOptions {
  /** New traces the ring takes per second (0: none). */
  readonly perSecond: number
  /** Whether spans are exported (OTLP): then every trace is recorded and sampled, kept or not. */
  readonly exporting: boolean
  /** The bucket's clock (tests). */
  readonly now?: () => number
}

/**
 * The process's sampler: a trace's first span here (a root, or one continuing a remote caller's
 * trace that no Mosaic process has marked) asks the bucket; the rest follow their parent.
 */
export function recentSampler({ perSecond, exporting, now }: RecentSamplerOptions): Sampler {
  const take = rateLimit(perSecond, now)
  const skipped: SamplingResult = {
    decision: exporting ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
  }
  const startHere = (state: TraceState | undefined): SamplingResult =>
    take()
      ? { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: (state ?? createTraceState()).set(KEY, VALUE) }
      : skipped
  return new ParentBasedSampler({
    root: { shouldSample: () => startHere(undefined), toString: () => `RecentTraces{${perSecond}/s}` },
    // A caller's sampled trace: followed whole if a Mosaic process kept it, else it starts here.
    remoteParentSampled: {
      shouldSample(context: Context) {
        const parent = trace.getSpanContext(context)!
        return keptForRecent(parent) ? followed : startHere(parent.traceState)
      },
      toString: () => `RecentTracesRemote{${perSecond}/s}`,
    },
  })
}

const followed: SamplingResult = { decision: SamplingDecision.RECORD_AND_SAMPLED }
