import { test } from 'node:test'
import assert from 'node:assert/strict'
import { waterfall } from './waterfall.ts'

const span = (
  spanId: string,
  parentSpanId: string | undefined,
  service: string,
  startMs: number,
  durationMs: number,
) => ({
  spanId,
  ...(parentSpanId ? { parentSpanId } : {}),
  name: spanId,
  service,
  startMs,
  durationMs,
  error: false,
})

test('spans in tree order, placed on the trace time line, coloured by service', () => {
  const { rows, totalMs, services } = waterfall([
    span('db', 'call', 'catalog', 1040, 10),
    span('root', undefined, 'gateway', 1000, 100),
    span('call', 'root', 'catalog', 1020, 50),
    span('late', 'root', 'gateway', 1080, 20),
  ])
  assert.equal(totalMs, 100)
  assert.deepEqual(
    rows.map((r) => [r.span.spanId, r.depth, r.x, r.width, r.tone]),
    [
      ['root', 0, 0, 1000, 0],
      ['call', 1, 200, 500, 1],
      ['db', 2, 400, 100, 1],
      ['late', 1, 800, 200, 0],
    ],
  )
  assert.deepEqual(services, ['gateway', 'catalog'])
})

test('a span whose parent is in another process not asked (or dropped) is a root; a tiny span still shows', () => {
  const { rows } = waterfall([
    span('orphan', 'missing', 'orders', 0, 0.0001),
    span('other', undefined, 'gateway', 0, 10),
  ])
  assert.deepEqual(
    rows.map((r) => [r.span.spanId, r.depth]),
    [
      ['orphan', 0],
      ['other', 0],
    ],
  )
  assert.equal(rows[0]!.width, 2)
  assert.deepEqual(waterfall([]), { rows: [], totalMs: 0, services: [] })
})
