import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ROOT_CONTEXT, SpanKind, TraceFlags, createTraceState, trace } from '@opentelemetry/api'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  SamplingDecision,
  type Sampler,
} from '@opentelemetry/sdk-trace-base'
import { decider } from './new-traces.ts'

/** A sampler that records the first `recorded` traces it is asked about, and counts the questions. */
function firstOf(recorded: number): Sampler & { asked: () => number } {
  let asked = 0
  return {
    shouldSample: () =>
      ++asked <= recorded
        ? { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: createTraceState().set('mosaic', 'recent') }
        : { decision: SamplingDecision.NOT_RECORD },
    toString: () => 'first',
    asked: () => asked,
  }
}

test('a new trace the sampler passes over is a non-recording span with fresh, valid ids', () => {
  const decide = decider(firstOf(0))
  const spans = [0, 1, 2].map(() => decide.unrecordedRoot(ROOT_CONTEXT, 'GET /x', SpanKind.SERVER)!)
  for (const span of spans) {
    assert.equal(span.isRecording(), false)
    assert.ok(trace.isSpanContextValid(span.spanContext()))
    assert.equal(span.spanContext().traceFlags, TraceFlags.NONE)
  }
  assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 3, 'every trace its own id')
})

test('a trace the sampler records is made by the SDK on that decision, the sampler asked once', () => {
  const inner = firstOf(1)
  const decide = decider(inner)
  const exporter = new InMemorySpanExporter()
  const tracer = new BasicTracerProvider({
    sampler: decide.sampler,
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  }).getTracer('t')
  assert.equal(decide.unrecordedRoot(ROOT_CONTEXT, 'GET /x', SpanKind.SERVER), undefined)
  const span = tracer.startSpan('GET /x', {}, ROOT_CONTEXT)
  assert.equal(inner.asked(), 1, 'the SDK reused the decision instead of asking again')
  assert.ok(span.isRecording())
  assert.equal(span.spanContext().traceState?.get('mosaic'), 'recent', "with the decision's trace state")
  span.end()
  assert.equal(exporter.getFinishedSpans().length, 1)
  // The decision is used once: the next span is the sampler's to decide again.
  tracer.startSpan('GET /y', {}, ROOT_CONTEXT).end()
  assert.equal(inner.asked(), 2)
  assert.equal(exporter.getFinishedSpans().length, 1)
})
