import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { recentTracesProcessor, MAX_SPANS_PER_TRACE } from './recent-traces.ts'
import { recentSampler } from './recent-sampler.ts'

test('keeps the last N traces (the oldest dropped first), each bounded, with parent links and errors', () => {
  const ring = recentTracesProcessor(2)
  const sampler = recentSampler({ perSecond: 100, exporting: false })
  const tracer = new BasicTracerProvider({ sampler, spanProcessors: [ring] }).getTracer('t')
  const traceIds: string[] = []
  for (let i = 0; i < 3; i++) {
    const root = tracer.startSpan(`root ${i}`)
    traceIds.push(root.spanContext().traceId)
    root.setAttribute('n', i).setAttribute('list', [1, 2])
    root.end()
  }
  assert.deepEqual(
    ring.spans().map((s) => s.name),
    ['root 1', 'root 2'],
    'the first trace was dropped',
  )
  assert.deepEqual(ring.spans(traceIds[0]), [])
  const [kept] = ring.spans(traceIds[2])
  assert.deepEqual(kept!.attributes, { n: 2 }, 'scalar attributes only')
  assert.equal(kept!.parentSpanId, undefined)

  const root = tracer.startSpan('big')
  const traceId = root.spanContext().traceId
  const parent = trace.setSpan(ROOT_CONTEXT, root)
  for (let i = 0; i < MAX_SPANS_PER_TRACE + 10; i++) {
    const child = tracer.startSpan(`child ${i}`, {}, parent)
    if (i === 0) child.setStatus({ code: 2 })
    child.end()
  }
  const spans = ring.spans(traceId)
  assert.equal(spans.length, MAX_SPANS_PER_TRACE)
  assert.equal(spans[0]!.parentSpanId, root.spanContext().spanId)
  assert.equal(spans[0]!.error, true)
})
