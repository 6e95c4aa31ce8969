// Observability from outside: spans exported over OTLP/HTTP when asked and only then; the trace
// id of an incoming `traceparent` carried into problem documents, events and log lines; and
// Prometheus metrics labelled by route pattern, never by raw path.
import { describe, test, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { startNode, type MosaicNode } from '../src/runtime/node.ts'
import type { CloudEvent } from '../src/kit/contract.ts'
import identity from '../src/services/identity/service.ts'
import catalog from '../src/services/catalog/service.ts'
import { cli, spawnNode, logLines, tempDataDir, closedPort } from './process.ts'
import { adminEnv, login, bearer, INTERNAL_SECRET } from './auth.ts'
import { spy } from './helpers/bus.ts'
import { eventually } from './helpers/wait.ts'
import { natsNamespace } from './infra.ts'

// Products are created by staff: the first admin (from adminEnv) signs in for them.
const baseEnv = { PORT: '0', LOG_PRETTY: 'false', LOG_LEVEL: 'info', CATALOG_SEED_DEMO: 'false', ...adminEnv }

/** A fresh W3C trace context, as a caller upstream of Mosaic would send it. */
function traceparent(): { traceId: string; header: string } {
  const traceId = randomBytes(16).toString('hex')
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString('hex')}-01` }
}

async function listen(t: TestContext, server: Server, port = 0): Promise<string> {
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

function post(base: string, path: string, json: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(json),
  })
}

test('spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and only then', {
  timeout: 30_000,
}, async (t) => {
  // The receiver sits on OTLP/HTTP's default port when it can, so that a process exporting
  // without being asked to would be caught sending there.
  const posts: { method: string; path: string; body: string }[] = []
  const collect = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = []
    request
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('end', () => {
        posts.push({ method: request.method!, path: request.url!, body: Buffer.concat(chunks).toString('utf8') })
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}') // an empty ExportTraceServiceResponse
      })
  }
  const url = await listen(t, createServer(collect), 4318).catch(() => listen(t, createServer(collect)))
  if (!url.endsWith(':4318'))
    t.diagnostic(
      'port 4318 is taken: the check that an unconfigured process exports nothing only looks at this receiver',
    )

  const spawn = async (extra: Record<string, string>) =>
    spawnNode([cli, 'start'], { ...baseEnv, DATA_DIR: await tempDataDir(t), ...extra })
  const children = await Promise.all([
    spawn({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_SERVICE_NAME: 'mosaic-test' }),
    // Empty is unset (whatever the environment running the tests says).
    spawn({
      OTEL_SERVICE_NAME: 'mosaic-quiet',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
    }),
  ])
  for (const child of children) t.after(() => child.kill()) // all of them, before any assertion can fail
  for (const child of children) {
    const { accessToken } = await login(child.url)
    assert.equal(
      (await post(child.url, '/api/products', { id: 'traced-1', name: 'Traced', price: 1 }, bearer(accessToken)))
        .status,
      201,
    )
    assert.equal((await fetch(new URL('/api/products/traced-1', child.url))).status, 200)
    assert.equal((await fetch(new URL('/api/products/untraced', child.url))).status, 404)
  }
  // Spans are batched; stopping the process flushes them.
  assert.deepEqual(await Promise.all(children.map((child) => child.kill('SIGTERM'))), [0, 0])

  const traces = posts.filter((p) => p.method === 'POST' && p.path === '/v1/traces')
  assert.ok(traces.length > 0, `the receiver got no spans: ${JSON.stringify(posts.map((p) => p.path))}`)
  const exported = traces.map((p) => p.body).join('\n')
  for (const expected of [
    'mosaic-test',
    'GET /api/products/:id',
    'POST /api/products',
    'catalog transaction',
    '"catalog"',
  ]) {
    assert.ok(exported.includes(expected), `no ${JSON.stringify(expected)} among the exported spans`)
  }
  assert.ok(
    posts.every((p) => !p.body.includes('mosaic-quiet')),
    'a process without OTEL_EXPORTER_OTLP_ENDPOINT exported spans',
  )
})

describe('in one process', () => {
  let node: MosaicNode
  let staff: { authorization: string }
  const delivered: CloudEvent[] = []

  before(async () => {
    // Behind a proxy the deployment trusts: the caller's trace is continued (by default it is only linked).
    node = await startNode({
      role: 'gateway',
      services: [identity, catalog],
      port: 0,
      env: {
        DATA_DIR: ':memory:',
        LOG_LEVEL: 'silent',
        CATALOG_SEED_DEMO: 'false',
        EVENT_POLL_MS: '50',
        TRACE_TRUST_INCOMING: 'true',
        ...adminEnv,
      },
    })
    staff = bearer((await login(node.url)).accessToken)
    // A subscriber of our own, as another service would be (as in test/catalog/suite.ts).
    await spy(
      node,
      { id: 'observability-test/product.created', consumer: 'catalog', source: 'catalog', type: 'product.created' },
      (event) => delivered.push(event),
    )
  })
  after(() => node?.stop())

  test("a failed request answers with the caller's trace id, also in traceresponse", async () => {
    for (const [path, status, code] of [
      ['/api/products/missing', 404, 'not_found'],
      ['/api/nowhere', 404, 'route_not_found'],
      ['/api/products?limit=0', 400, 'invalid_parameters'],
    ] as const) {
      const { traceId, header } = traceparent()
      const response = await fetch(new URL(path, node.url), { headers: { traceparent: header } })
      assert.equal(response.status, status, path)
      const problem = (await response.json()) as { code: string; traceId: string }
      assert.deepEqual({ code: problem.code, traceId: problem.traceId }, { code, traceId }, path)
      assert.equal(response.headers.get('traceresponse')?.split('-')[1], traceId, path)
    }
  })

  test('an event carries the trace of the request that caused it', async () => {
    const { traceId, header } = traceparent()
    const id = `obs-${randomBytes(4).toString('hex')}`
    assert.equal(
      (await post(node.url, '/api/products', { id, name: 'Traced', price: 1 }, { traceparent: header, ...staff }))
        .status,
      201,
    )
    const event = await eventually('product.created to be delivered', () =>
      delivered.find((e) => (e.data as { id: string }).id === id),
    )
    const [version, eventTraceId, spanId] = (event.traceparent ?? '').split('-')
    assert.deepEqual([version, eventTraceId], ['00', traceId])
    assert.notEqual(spanId, header.split('-')[2], "the event's parent is a span of the request, not the caller's span")
  })

  test('request durations are labelled by route pattern, never by raw path', async () => {
    const id = `obs-metric-${randomBytes(4).toString('hex')}`
    const missing = `obs-missing-${randomBytes(4).toString('hex')}`
    assert.equal((await post(node.url, '/api/products', { id, name: 'Measured', price: 1 }, staff)).status, 201)
    assert.equal((await fetch(new URL(`/api/products/${id}`, node.url))).status, 200)
    assert.equal((await fetch(new URL(`/api/products/${missing}`, node.url))).status, 404)
    assert.equal((await fetch(new URL(`/api/nowhere/${missing}`, node.url))).status, 404)

    const metrics = await (await fetch(node.metricsUrl!)).text()
    const buckets = metrics
      .split('\n')
      .filter((line) => line.startsWith('http_server_request_duration_seconds_bucket{'))
    const count = (status: number): number =>
      buckets
        .filter(
          (l) =>
            l.includes('http_route="/api/products/:id"') &&
            l.includes('http_request_method="GET"') &&
            l.includes(`http_response_status_code="${status}"`) &&
            l.includes('le="+Inf"'),
        )
        .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
    assert.ok(count(200) >= 1, 'the 200 is counted under the route pattern')
    assert.ok(count(404) >= 1, 'the 404 is counted under the route pattern')
    assert.ok(!metrics.includes(id) && !metrics.includes(missing), 'no label holds a raw id')
  })
})

test('log lines of a request carry its trace id and the service name', { timeout: 30_000 }, async (t) => {
  // The gateway logs a request that fails on its side (5xx); an upstream that is down is one.
  // Catalog elsewhere: its events travel over NATS (the embedded bus would refuse the split).
  const bus = { BUS: 'nats', NATS_NAMESPACE: natsNamespace(t) }
  const child = await spawnNode([cli, 'start'], {
    ...baseEnv,
    ...bus,
    DATA_DIR: await tempDataDir(t),
    CATALOG_SERVICE_URL: `http://127.0.0.1:${await closedPort()}`,
    MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
  })
  t.after(() => child.kill())
  const { traceId: callers, header } = traceparent()
  const response = await fetch(new URL('/api/products/anything', child.url), { headers: { traceparent: header } })
  assert.ok([502, 503].includes(response.status), `got ${response.status}`)
  // The public edge starts a trace of its own (the caller's is only linked), and says which.
  const traceId = response.headers.get('traceresponse')?.split('-')[1]
  assert.ok(traceId && traceId !== callers)
  assert.equal(((await response.json()) as { traceId: string }).traceId, traceId)

  await child.waitFor(new RegExp(`"trace_id":"${traceId}"`))
  const line = logLines(child.output()).find((l) => l.trace_id === traceId)!
  assert.equal(line.service, 'gateway')
  assert.match(String(line.span_id), /^[0-9a-f]{16}$/)
  assert.equal(line.level, 50)
  assert.equal(line.msg, 'request failed')
})
