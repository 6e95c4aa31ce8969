import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter, trace, type Context } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { recentTracesProcessor } from './recent-traces.ts'
import { recentSampler, rateLimit } from './recent-sampler.ts'

/** A process: its ring, a tracer sampling for it, and a clock the test moves. */
function processWith(perSecond: number, exporting = false) {
  let ms = 0
  const ring = recentTracesProcessor(1000)
  const sampler = recentSampler({ perSecond, exporting, now: () => ms })
  const tracer = new BasicTracerProvider({ sampler, spanProcessors: [ring] }).getTracer('t')
  /** A request: a root (or a child of `parent`) with one child span; returns the root's context. */
  const request = (name: string, parent: Context = ROOT_CONTEXT) => {
    const root = tracer.startSpan(name, {}, parent)
    const inner = trace.setSpan(parent, root)
    tracer.startSpan(`${name} child`, {}, inner).end()
    const recording = root.isRecording() // false once ended
    root.end()
    return { span: root, context: inner, recording }
  }
  return { ring, request, advance: (by: number) => (ms += by) }
}

const w3c = new W3CTraceContextPropagator()
/** What another process receives: the headers of `ctx`, extracted there (a remote parent). */
function overTheWire(ctx: Context): { context: Context; headers: Record<string, string> } {
  const headers: Record<string, string> = {}
  w3c.inject(ctx, headers, defaultTextMapSetter)
  return { context: w3c.extract(ROOT_CONTEXT, headers, defaultTextMapGetter), headers }
}

test('the bucket gives perSecond at once, then refills at perSecond', () => {
  let ms = 0
  const take = rateLimit(4, () => ms)
  assert.deepEqual(
    Array.from({ length: 6 }, () => take()),
    [true, true, true, true, false, false],
  )
  ms += 500
  assert.deepEqual([take(), take(), take()], [true, true, false], 'half a second: two more')
})

test('at low traffic every trace is kept, whole', () => {
  const { ring, request, advance } = processWith(2)
  for (let i = 0; i < 10; i++) {
    request(`click ${i}`)
    advance(1000)
  }
  assert.equal(ring.spans().length, 20, 'ten traces of two spans each')
  assert.equal(new Set(ring.spans().map((s) => s.traceId)).size, 10)
})

test('under load the ring takes at most perSecond traces a second, and records nothing else', () => {
  const { ring, request, advance } = processWith(5)
  const requests = Array.from({ length: 100 }, (_, i) => request(`burst ${i}`))
  assert.equal(new Set(ring.spans().map((s) => s.traceId)).size, 5)
  assert.deepEqual(
    requests.map((r) => r.recording),
    requests.map((_, i) => i < 5),
    'a trace not kept is not recorded when nothing is exported',
  )
  assert.ok(
    requests.every((r) => trace.isSpanContextValid(r.span.spanContext())),
    'it still has a real trace id',
  )
  advance(1000)
  for (let i = 0; i < 100; i++) request(`next ${i}`)
  assert.equal(new Set(ring.spans().map((s) => s.traceId)).size, 10, 'five more after a second')
})

test('with an exporter every trace is still sampled; the ring keeps only the marked ones', () => {
  const { ring, request } = processWith(1, true)
  const requests = Array.from({ length: 5 }, (_, i) => request(`r ${i}`))
  assert.ok(requests.every((r) => r.recording && (r.span.spanContext().traceFlags & 1) === 1))
  assert.equal(new Set(ring.spans().map((s) => s.traceId)).size, 1)
})

test('a trace kept by one process is kept whole by the next, even when its own bucket is empty', () => {
  const gateway = processWith(100)
  const service = processWith(1)
  service.request('its own') // the service's bucket is now empty
  const { span, context } = gateway.request('GET /api/products')
  const wire = overTheWire(context)
  assert.match(wire.headers.tracestate ?? '', /mosaic=recent/)
  const call = service.request('catalog.get', wire.context)
  assert.equal(call.span.spanContext().traceId, span.spanContext().traceId)
  assert.deepEqual(
    service.ring.spans(span.spanContext().traceId).map((s) => s.name),
    ['catalog.get child', 'catalog.get'],
  )

  // A caller's sampled trace that no Mosaic process marked asks the bucket (empty here)...
  const exporter = processWith(1, true)
  exporter.request('kept')
  const foreign = overTheWire(exporter.request('sampled, not kept').context)
  assert.match(foreign.headers.traceparent!, /-01$/)
  assert.doesNotMatch(foreign.headers.tracestate ?? '', /mosaic/)
  assert.equal(service.request('from outside', foreign.context).recording, false)
  service.advance(1000)
  assert.equal(service.request('from outside, later', foreign.context).recording, true)
  // ... and a caller's unsampled one is followed: not recorded.
  const caller = processWith(1)
  caller.request('kept')
  const unsampled = overTheWire(caller.request('not kept').context)
  assert.equal(gateway.request('from an unsampled caller', unsampled.context).recording, false)
})
