import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Histogram, Registry } from 'prom-client'
import { p99, compare, createRouteStats } from './route-stats.ts'

test('p99: the smallest bucket bound holding 99 % of the requests; none when empty or past the last bound', () => {
  const buckets = (pairs: [number, number][]) => new Map(pairs)
  assert.equal(
    p99(
      buckets([
        [0.01, 98],
        [0.1, 99],
        [1, 100],
        [Infinity, 100],
      ]),
    ),
    100,
  )
  assert.equal(
    p99(
      buckets([
        [0.01, 100],
        [Infinity, 100],
      ]),
    ),
    10,
  )
  assert.equal(
    p99(
      buckets([
        [0.01, 0],
        [Infinity, 0],
      ]),
    ),
    null,
  )
  assert.equal(
    p99(
      buckets([
        [0.01, 1],
        [Infinity, 100],
      ]),
    ),
    null,
    'the slowest are past every bound',
  )
})

test('a window: only the requests between two snapshots, grouped per route, errors apart', async () => {
  const registry = new Registry()
  const h = new Histogram({
    name: 'http_server_request_duration_seconds',
    help: 'test',
    labelNames: ['service', 'http_request_method', 'http_route', 'http_response_status_code'],
    buckets: [0.01, 0.1, 1],
    registers: [registry],
  })
  const route = (status: number) => ({
    service: 'catalog',
    http_request_method: 'GET',
    http_route: '/api/products',
    http_response_status_code: status,
  })
  h.observe(route(200), 0.005) // before the window: not counted
  const stats = createRouteStats(h, { everyMs: 60_000 })
  const before = await stats.report()
  assert.deepEqual(
    before.routes.map((r) => r.requests),
    [1],
    'since start while no snapshot is older',
  )
  stats.close()

  // As prom-client gives them: cumulative counts for every bound of each series.
  const series = (status: number, counts: [number, number, number, number]) =>
    [
      JSON.stringify(['GET', '/api/products', 'catalog', status]),
      {
        buckets: new Map([
          [0.01, counts[0]],
          [0.1, counts[1]],
          [1, counts[2]],
          [Infinity, counts[3]],
        ]),
        count: counts[3],
      },
    ] as const
  const at = Date.now()
  const first = { at, series: new Map([series(200, [1, 1, 1, 1])]) }
  const second = {
    at: at + 10_000,
    series: new Map([series(200, [5, 11, 11, 11]), series(503, [0, 0, 2, 2]), series(404, [1, 1, 1, 1])]),
  }
  const { windowSeconds, routes } = compare(first, second)
  assert.equal(windowSeconds, 10)
  assert.deepEqual(routes, [
    {
      method: 'GET',
      route: '/api/products',
      service: 'catalog',
      requests: 13,
      perSecond: 1.3,
      errors: 2,
      clientErrors: 1,
      p99Ms: 1000,
    },
  ])
})
