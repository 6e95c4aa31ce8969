// One trace per request, across everything it causes: an in-test OTLP receiver records the spans of
// a checkout (embedded, and with catalog and payments in processes of their own), of a saga that a
// SIGKILL interrupted, and of a proxied request; spans name their own service and 5xx are errors.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { drained } from './helpers/drained.ts'
import { startOrdersNode, services, sagaEnv, Harness, PASSWORD, type Order } from './orders/helpers.ts'
import analytics from '../src/services/analytics/service.ts'
import notifications from '../src/services/notifications/service.ts'
import identity from '../src/services/identity/service.ts'
import catalog from '../src/services/catalog/service.ts'
import { routesOf } from '../src/kit/internal/host.ts'
import { flushTracing } from '../src/kit/telemetry/tracing.ts'
import { startNode } from '../src/runtime/node.ts'
import type { Route } from '../src/kit/events/bus.ts'
import type { AnyService } from '../src/kit/service.ts'
import { cli, spawnNode, tempDataDir, type Child } from './process.ts'
import { adminEnv, testEnv, login, bearer, INTERNAL_SECRET } from './auth.ts'
import { natsNamespace, defer } from './infra.ts'
import { otlpReceiver, Kind, type Receiver, type RecordedSpan } from './otlp.ts'

// Spans leave in batches: small delays, so that a test waits a moment, not five seconds.
process.env.OTEL_BSP_SCHEDULE_DELAY = '50'
const everything: AnyService[] = [...services, analytics, notifications]
const routes: Route[] = everything.flatMap(routesOf)
const receiver: Receiver = await otlpReceiver({ after })
/** Time enough for a checkout on a busy machine: these tests are about its trace, not its failure paths. */
const patient = { ORDERS_SAGA_TIMEOUT_MS: '15000', ORDERS_STEP_TIMEOUT_MS: '5000', ORDERS_SAGA_LEASE_MS: '10000' }

const traceOf = (traceId: string): RecordedSpan[] => receiver.spans.filter((s) => s.traceId === traceId)
const traceIdOf = (response: { headers: Headers }): string => {
  const header = response.headers.get('traceresponse')
  assert.match(header ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
  return header!.split('-')[1]!
}

/** Every event published in the trace, with a `process` span linked to it for each route of its type. */
function consumersMissing(spans: readonly RecordedSpan[]): string[] {
  const missing: string[] = []
  for (const producer of spans.filter((s) => s.kind === Kind.PRODUCER)) {
    const type = producer.attributes['messaging.destination.name']
    for (const route of routes.filter((r) => r.type === type)) {
      const consumed = spans.some(
        (s) =>
          s.kind === Kind.CONSUMER &&
          s.service === route.consumer &&
          s.attributes['messaging.consumer.group.name'] === route.id &&
          s.links.some((l) => l.spanId === producer.spanId && l.traceId === producer.traceId),
      )
      if (!consumed) missing.push(`${route.id} ← ${String(type)}`)
    }
  }
  return missing
}

/** Waits until the checkout's trace is complete, then checks it is one tree holding everything. */
async function assertOneCheckoutTrace(traceId: string, orderId: string): Promise<RecordedSpan[]> {
  const complete = (): boolean => {
    const spans = traceOf(traceId)
    return spans.some((s) => s.name === 'order.confirmed publish') && consumersMissing(spans).length === 0
  }
  for (const end = Date.now() + 30_000; !complete() && Date.now() < end; ) {
    await flushTracing()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await flushTracing()
  const spans = traceOf(traceId)
  assert.deepEqual(consumersMissing(spans), [], 'every event of the checkout is processed, linked to its publish span')

  const roots = spans.filter((s) => !s.parentSpanId)
  assert.deepEqual(
    roots.map((s) => [s.name, s.kind, s.service]),
    [['POST /api/orders', Kind.SERVER, 'gateway']],
    'one root: the request',
  )
  const ids = new Set(spans.map((s) => s.spanId))
  assert.deepEqual(
    spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId)).map((s) => s.name),
    [],
    'one tree: every parent is in the trace',
  )

  const names = new Set(spans.map((s) => s.name))
  // Confirming calls nobody: it is recorded in the capture step's transaction, under its span.
  for (const step of ['reserve', 'authorize', 'commit', 'capture'])
    assert.ok(names.has(`checkout ${step}`), `the saga's ${step} step is in the trace`)
  assert.ok(!names.has('checkout confirm'), 'no step of its own for confirming')
  for (const [service, action] of [
    ['catalog', 'reserveStock'],
    ['payments', 'authorizePayment'],
    ['catalog', 'commitStock'],
    ['payments', 'capturePayment'],
  ]) {
    const server = spans.find((s) => s.name === `${service}/${action}` && s.kind === Kind.SERVER)
    assert.ok(server, `a server span for ${service}/${action}`)
    assert.equal(server.service, service, "the action's server span names its service")
    const client = spans.find((s) => s.spanId === server.parentSpanId)
    assert.deepEqual([client?.name, client?.kind, client?.service], [`${service}/${action}`, Kind.CLIENT, 'orders'])
  }
  for (const consumer of new Set(routes.filter((r) => r.type === 'order.confirmed').map((r) => r.consumer))) {
    assert.ok(
      spans.some((s) => s.name === `${consumer} transaction` && s.service === consumer),
      `${consumer}'s transaction is in the trace`,
    )
  }
  // Spans name their own service: SQL by the schema it ran in, producers and consumers by theirs.
  for (const s of spans.filter((x) => x.attributes['db.operation.name'])) {
    assert.equal(s.service.replace(/-/g, '_'), s.attributes['db.namespace'], `${s.name} names its service`)
    assert.ok(!String(s.attributes['db.query.text']).includes(orderId), 'a statement carries no values')
  }
  // Nothing about this order is recorded outside its trace.
  assert.deepEqual(
    receiver.spans.filter((s) => s.attributes['order.id'] === orderId && s.traceId !== traceId).map((s) => s.name),
    [],
  )
  return spans
}

async function checkout(h: Harness): Promise<{ traceId: string; order: Order }> {
  const customer = await h.customer()
  const product = await h.product(5)
  // The set-up's own events (the welcome mail's user.registered among them) consumed first: a
  // consumer handed a batch of events from several traces makes one transaction, under a batch span
  // of its own, and this test follows the checkout's events alone.
  await drained(h.node)
  const placed = await h.place(
    customer.token,
    { productId: product, quantity: 1, paymentMethod: { token: 'tok_visa' } },
    { wait: 10 },
  )
  assert.equal(placed.status, 200, placed.text)
  assert.equal(placed.body.status, 'CONFIRMED')
  return { traceId: traceIdOf(placed), order: placed.body }
}

test("embedded: a checkout is one trace, from POST /api/orders to every consumer's transaction", {
  timeout: 60_000,
}, async (t) => {
  const h = await startOrdersNode({ ...patient, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, everything)
  defer(t, () => h.stop())
  const { traceId, order } = await checkout(h)
  const spans = await assertOneCheckoutTrace(traceId, order.id)
  const services = new Set(spans.map((s) => s.service))
  for (const service of ['gateway', 'orders', 'catalog', 'payments', 'analytics', 'notifications'])
    assert.ok(services.has(service), `${service} appears as a service`)

  // The saga's metrics, and the HTTP series labelled with the service that answered, not the gateway.
  const metrics = await (await fetch(h.node.metricsUrl!)).text()
  const value = (series: string): number =>
    Number(
      metrics
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.split(' ')[1] ?? NaN,
    )
  assert.ok(value('orders_saga_started_total') >= 1)
  assert.ok(value('orders_saga_finished_total{outcome="confirmed"}') >= 1)
  assert.equal(value('orders_saga_in_flight'), 0)
  for (const step of ['reserve', 'authorize', 'commit', 'capture'])
    assert.ok(value(`orders_saga_step_duration_seconds_count{step="${step}",outcome="ok"}`) >= 1, step)
  assert.match(
    metrics,
    /^http_server_request_duration_seconds_count\{service="orders",http_request_method="POST",http_route="\/api\/orders",http_response_status_code="200"\} [1-9]/m,
  )
  assert.doesNotMatch(
    metrics,
    /^http_server_request_duration_seconds_count\{service="gateway",http_request_method="POST",http_route="\/api\/orders"/m,
  )
})

test('services in separate processes: a checkout is still one trace', { timeout: 120_000 }, async (t) => {
  const bus = { BUS: 'nats', NATS_NAMESPACE: natsNamespace(t) }
  const serve = async (service: string): Promise<Child> => {
    const child = await spawnNode(
      [cli, 'serve', service],
      {
        [`${service.toUpperCase()}_SERVICE_PORT`]: '0',
        DATA_DIR: await tempDataDir(t),
        LOG_LEVEL: 'info',
        LOG_PRETTY: 'false',
        EVENT_POLL_MS: '50',
        MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        ...bus,
      },
      30_000,
    )
    defer(t, () => child.kill('SIGTERM'))
    return child
  }
  const [catalogProcess, paymentsProcess] = await Promise.all([serve('catalog'), serve('payments')])
  const h = await startOrdersNode(
    {
      ...patient,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      CATALOG_SERVICE_URL: catalogProcess.url,
      PAYMENTS_SERVICE_URL: paymentsProcess.url,
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      ...bus,
    },
    everything,
  )
  defer(t, () => h.stop())
  const { traceId, order } = await checkout(h)
  // The other processes export on their own schedule; stopping them flushes what they hold.
  await Promise.all([catalogProcess.kill('SIGTERM'), paymentsProcess.kill('SIGTERM')])
  const spans = await assertOneCheckoutTrace(traceId, order.id)
  const pids = (service: string): Set<number> => new Set(spans.filter((s) => s.service === service).map((s) => s.pid))
  assert.deepEqual(pids('catalog'), new Set([catalogProcess.process.pid]), "catalog's spans come from its process")
  assert.deepEqual(pids('payments'), new Set([paymentsProcess.process.pid]))
  assert.deepEqual(pids('orders'), new Set([process.pid]))
})

test('a saga resumed after SIGKILL continues the trace of the request that placed the order', {
  timeout: 120_000,
}, async (t) => {
  const script = join(import.meta.dirname, 'orders', 'crash-node.ts')
  const env = {
    ...sagaEnv,
    ORDERS_SAGA_TIMEOUT_MS: '4000',
    ORDERS_SAGA_LEASE_MS: '1000',
    DATA_DIR: await tempDataDir(t),
    CATALOG_SEED_DEMO: 'false',
    LOG_LEVEL: 'silent',
    EVENT_POLL_MS: '50',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    ...adminEnv,
  }
  let child = await spawnNode([script], env, 60_000)
  defer(t, () => child.kill('SIGKILL'))
  const first = child.process.pid!
  const admin = bearer((await login(child.url)).accessToken)
  const product = `sigkill-${randomBytes(4).toString('hex')}`
  const post = (url: string, path: string, body: unknown, headers: Record<string, string>) =>
    fetch(new URL(path, url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  assert.equal(
    (
      await post(
        child.url,
        '/api/products',
        { id: product, name: 'Slow', price: '1.00', currency: 'EUR', stock: 5 },
        admin,
      )
    ).status,
    201,
  )
  const email = `sigkill-${randomBytes(4).toString('hex')}@orders.test`
  assert.equal((await post(child.url, '/api/users', { email, password: PASSWORD, name: 'K' }, {})).status, 201)
  const customer = bearer((await login(child.url, email, PASSWORD)).accessToken)
  // tok_timeout: the provider never answers, so the saga retries its authorization until its deadline.
  const placed = await post(
    child.url,
    '/api/orders',
    { productId: product, quantity: 1, paymentMethod: { token: 'tok_timeout' } },
    { ...customer, 'idempotency-key': randomBytes(8).toString('hex') },
  )
  assert.equal(placed.status, 202)
  const traceId = traceIdOf(placed)
  const orderId = ((await placed.json()) as Order).id
  await receiver.until((spans) =>
    spans.some((s) => s.traceId === traceId && s.name === 'checkout authorize' && s.pid === first),
  )
  await child.kill('SIGKILL')

  child = await spawnNode([script], env, 60_000)
  const second = child.process.pid!
  let order: Order | undefined
  for (
    const end = Date.now() + 30_000;
    order?.status !== 'CANCELLED' && Date.now() < end;
    await new Promise((resolve) => setTimeout(resolve, 100))
  ) {
    order = (await (await fetch(new URL(`/api/orders/${orderId}`, child.url), { headers: customer })).json()) as Order
  }
  assert.equal(order?.status, 'CANCELLED', 'the saga gave up at its deadline and compensated')
  assert.equal(await child.kill('SIGTERM'), 0) // flushes its spans
  const spans = traceOf(traceId)
  const runs = spans.filter((s) => s.name === 'checkout saga')
  assert.ok(
    runs.some((s) => s.pid === first) && runs.some((s) => s.pid === second),
    'the saga ran in both processes, in one trace',
  )
  assert.ok(
    spans.some((s) => s.pid === second && s.name === 'checkout release'),
    'the compensation after the restart is in the trace',
  )
  assert.deepEqual(
    receiver.spans.filter((s) => s.attributes['order.id'] === orderId && s.traceId !== traceId).map((s) => s.name),
    [],
  )
})

test("a proxied request is one trace that links the caller's context; a 5xx server span is an error", {
  timeout: 60_000,
}, async (t) => {
  const bus = { BUS: 'nats', NATS_NAMESPACE: natsNamespace(t) }
  const catalogProcess = await spawnNode(
    [cli, 'serve', 'catalog'],
    {
      CATALOG_SERVICE_PORT: '0',
      DATA_DIR: await tempDataDir(t),
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      CATALOG_SEED_DEMO: 'false',
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      ...bus,
    },
    30_000,
  )
  defer(t, () => catalogProcess.kill('SIGKILL'))
  const gateway = await startNode({
    role: 'gateway',
    services: [identity, catalog],
    port: 0,
    env: testEnv({
      CATALOG_SERVICE_URL: catalogProcess.url,
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      ...bus,
    }),
  })
  defer(t, () => gateway.stop())

  const callerTrace = randomBytes(16).toString('hex')
  const callerSpan = randomBytes(8).toString('hex')
  const missing = await fetch(new URL('/api/products/nope', gateway.url), {
    headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` },
  })
  assert.equal(missing.status, 404)
  const traceId = traceIdOf(missing)
  assert.notEqual(traceId, callerTrace, 'the public edge starts its own trace')
  assert.equal(
    ((await missing.json()) as { traceId: string }).traceId,
    traceId,
    "the problem document names the gateway's trace",
  )
  assert.equal(await catalogProcess.kill('SIGTERM'), 0)
  await flushTracing()
  const spans = await receiver.until((all) => all.some((s) => s.traceId === traceId && s.service === 'catalog'))
  const edge = spans.find((s) => s.traceId === traceId && s.service === 'gateway' && s.kind === Kind.SERVER)
  const upstream = spans.find((s) => s.traceId === traceId && s.service === 'catalog' && s.kind === Kind.SERVER)
  assert.ok(edge && upstream, "the gateway's and the catalog's server spans are in one trace")
  assert.equal(upstream.parentSpanId, edge.spanId, "the catalog continues the gateway's span")
  assert.equal(upstream.pid, catalogProcess.process.pid)
  assert.deepEqual(
    edge.links.map((l) => [l.traceId, l.spanId]),
    [[callerTrace, callerSpan]],
    "the caller's context is a link",
  )
  assert.notEqual(edge.status.code, 2, "a 404 is not the server's error")

  // The catalog is gone now: the proxy cannot reach it, a 5xx whose server span is an error.
  const down = await fetch(new URL('/api/products/nope', gateway.url))
  assert.ok(down.status >= 500, `got ${down.status}`)
  const downTrace = traceIdOf(down)
  await flushTracing()
  const [failed] = (
    await receiver.until((all) => all.some((s) => s.traceId === downTrace && s.kind === Kind.SERVER))
  ).filter((s) => s.traceId === downTrace && s.kind === Kind.SERVER)
  assert.equal(failed?.status.code, 2, 'SpanStatusCode.ERROR')
  assert.equal(failed?.attributes['http.response.status_code'], down.status)
})
