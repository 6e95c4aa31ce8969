// The operator API (/api/ops) on an embedded system: identity, catalog, payments and orders, with
// the pulse/tally fixtures for a consumer that keeps failing. Admins only; every view answers from
// the real parts: the services' readiness, the bus's dead letters and their replay, the orders
// service's sagas, the spans each process keeps, and the gateway's request metrics.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startOrdersNode, services, type Harness } from '../orders/helpers.ts'
import { pulseSystem } from '../fixtures/pulse.ts'
import { fixtureRoutes } from '../fixtures/routes.ts'
import { customer } from '../helpers/users.ts'
import { assertProblem, assertFieldError } from '../helpers/http.ts'
import { eventually } from '../helpers/wait.ts'

let h: Harness
const run = `r${randomUUID().slice(0, 8)}`
before(async () => {
  h = await startOrdersNode(
    { GATEWAY_ROUTES: fixtureRoutes, TALLY_FAIL_RUN: run, EVENT_MAX_ATTEMPTS: '2', EVENT_RETRY_BASE_MS: '20' },
    [...services, ...pulseSystem],
  )
})
after(() => h?.stop())

const ops = <T>(path: string, options: { json?: unknown; token?: string } = {}) =>
  h.call<T>(options.json === undefined ? 'GET' : 'POST', `/api/ops${path}`, {
    token: options.token ?? h.adminToken,
    ...(options.json === undefined ? {} : { json: options.json }),
  })

const ROUTES = ['/services', '/bus', '/sagas', '/traces', '/traces/0123456789abcdef0123456789abcdef', '/routes']

test('the operator API is for admins: 401 without a caller, 403 for a customer', async () => {
  const { token } = await customer(h)
  for (const path of ROUTES) {
    assertProblem(await h.call('GET', `/api/ops${path}`), 401, 'unauthenticated')
    assertProblem(await ops(path, { token }), 403, 'forbidden')
  }
  assertProblem(await ops('/bus/replay', { token, json: { service: 'tally' } }), 403, 'forbidden')
})

test('services: every embedded service with the health of the process running it', async () => {
  const reply = await ops<{
    services: { name: string; instances: { embedded: boolean; health: string; url: string }[] }[]
  }>('/services')
  assert.equal(reply.status, 200, reply.text)
  assert.deepEqual(
    reply.body.services.map((s) => s.name),
    ['catalog', 'identity', 'orders', 'payments', 'pulse', 'tally'],
  )
  for (const s of reply.body.services) {
    assert.equal(s.instances.length, 1)
    assert.equal(s.instances[0]!.embedded, true)
    assert.equal(s.instances[0]!.health, 'pass')
    assert.equal(s.instances[0]!.url, h.url)
  }
})

interface Bus {
  kind: string
  connected: boolean
  subscriptions: { id: string; lag: number | null }[]
  deadLetters: { service: string; count: number }[]
  letters: { id: number; service: string; subscription: string; type: string; error: string }[]
}

test('bus: a failing consumer dead-letters, the console lists the letters, and a replay sends them back', async () => {
  const emitted = await h.call('POST', '/api/pulse', { json: { run, count: 2 } })
  assert.equal(emitted.status, 200, emitted.text)
  const dead = await eventually(
    'two dead letters of tally',
    async () => {
      const reply = await ops<Bus>('/bus')
      assert.equal(reply.status, 200, reply.text)
      return reply.body.deadLetters.find((d) => d.service === 'tally')?.count === 2 && reply.body
    },
    20_000,
  )
  assert.equal(dead.kind, 'embedded')
  assert.equal(dead.connected, true)
  assert.ok(dead.subscriptions.some((s) => s.id === 'tally/pulse.beat' || s.id.startsWith('tally/')))
  const letters = dead.letters.filter((l) => l.service === 'tally')
  assert.equal(letters.length, 2)
  for (const l of letters) {
    assert.equal(l.type, 'pulse.beat')
    assert.match(l.error, /told to fail run/)
  }

  // One of them replayed: it leaves the dead letters at once, and (still failing) comes back after its attempts.
  const replayed = await ops<{ replayed: number }>('/bus/replay', { json: { service: 'tally', ids: [letters[0]!.id] } })
  assert.equal(replayed.status, 200, replayed.text)
  assert.equal(replayed.body.replayed, 1)
  const after = (await ops<Bus>('/bus')).body
  assert.ok(
    !after.letters.some((l) => l.id === letters[0]!.id),
    'the replayed letter left the dead letters (still failing, it may be back already, under a new id)',
  )
  assert.ok(
    after.letters.some((l) => l.id === letters[1]!.id),
    'the other one stays',
  )
  await eventually(
    'the replayed event dead-lettered again',
    async () => (await ops<Bus>('/bus')).body.deadLetters.find((d) => d.service === 'tally')?.count === 2,
    20_000,
  )

  // Bad input: an unknown service, a malformed body.
  assertProblem(await ops('/bus/replay', { json: { service: 'nope' } }), 404, 'not_found')
  assertFieldError(await ops('/bus/replay', { json: { service: 'tally', ids: [] } }), '/ids')
  assertFieldError(await ops('/bus/replay', { json: { service: 'Tally!' } }), '/service')
})

interface Saga {
  orderId: string
  phase: string
  traceId: string | null
  steps: { step: string; outcome: string; at: string; tookMs: number }[]
}

test('sagas, traces and route metrics after a checkout', async () => {
  const product = await h.product(5)
  const { token } = await customer(h)
  const placed = await h.place(token, { productId: product, quantity: 1, paymentMethod: { token: 'tok_visa' } })
  assert.equal(placed.status, 202, placed.text)
  const order = await h.settle(token, placed.body.id)
  assert.equal(order.status, 'CONFIRMED')

  const inFlight = await ops<{ sagas: Saga[] }>('/sagas')
  assert.equal(inFlight.status, 200, inFlight.text)
  assert.ok(!inFlight.body.sagas.some((s) => s.orderId === order.id), 'a finished saga is not in flight')
  const all = await h.call<{ sagas: Saga[] }>('GET', '/api/ops/sagas?all=true&limit=5', { token: h.adminToken })
  const saga = all.body.sagas.find((s) => s.orderId === order.id)
  assert.ok(saga, all.text)
  assert.equal(saga.phase, 'done')
  assert.deepEqual(
    saga.steps.map((s) => `${s.step}:${s.outcome}`),
    ['reserve:ok', 'authorize:ok', 'commit:ok', 'capture:ok', 'confirm:ok'],
  )
  for (const s of saga.steps) assert.ok(s.tookMs >= 0 && Date.parse(s.at) > 0)
  assertFieldError(
    await h.call('GET', '/api/ops/sagas?limit=0', { token: h.adminToken }),
    '/limit',
    'invalid_parameters',
    400,
  )

  // The placing request's trace, kept by this process: the gateway's span, orders, and the saga's calls.
  assert.match(saga.traceId ?? '', /^[0-9a-f]{32}$/)
  const trace = await eventually(
    'the checkout trace with its saga steps',
    async () => {
      const reply = await ops<{ spans: { name: string; service: string; startMs: number; parentSpanId?: string }[] }>(
        `/traces/${saga.traceId}`,
      )
      return reply.status === 200 && reply.body.spans.some((s) => s.name === 'payments/capturePayment') && reply.body
    },
    10_000,
  )
  const names = trace.spans.map((s) => s.name)
  assert.ok(names.includes('POST /api/orders'), names.join(', '))
  assert.ok(names.includes('catalog/reserveStock'), names.join(', '))
  assert.deepEqual(
    trace.spans.map((s) => s.startMs),
    [...trace.spans.map((s) => s.startMs)].sort((a, b) => a - b),
    'in start order',
  )
  const services = new Set(trace.spans.map((s) => s.service))
  for (const s of ['gateway', 'orders', 'catalog', 'payments']) assert.ok(services.has(s), `${s} in ${[...services]}`)
  const list = await ops<{ traces: { traceId: string; services: string[]; spans: number }[] }>('/traces')
  const listed = list.body.traces.find((t) => t.traceId === saga.traceId)
  assert.ok(listed, 'the trace is listed')
  assert.ok(listed.spans >= trace.spans.length - 1 && listed.services.includes('payments'))
  assert.deepEqual(
    list.body.traces.filter((t) => JSON.stringify(t).includes('/api/ops')),
    [],
    "the operator API's own requests are not traced (they would push out what is worth seeing)",
  )
  assertProblem(await ops('/traces/0123456789abcdef0123456789abcdef'), 404, 'not_found')
  assertFieldError(await ops('/traces/not-a-trace'), '/traceId', 'invalid_parameters', 400)

  const routes = await ops<{
    windowSeconds: number
    routes: { method: string; route: string; requests: number; clientErrors: number; p99Ms: number | null }[]
  }>('/routes')
  assert.equal(routes.status, 200, routes.text)
  const post = routes.body.routes.find((r) => r.method === 'POST' && r.route === '/api/orders')
  assert.ok(post, routes.text)
  assert.equal(post.requests, 1)
  assert.ok(post.p99Ms !== null && post.p99Ms > 0)
  const forbidden = routes.body.routes.find((r) => r.route === '/api/ops/services')
  assert.ok(forbidden && forbidden.clientErrors >= 2, 'the refused calls of the first test count as 4xx')
})
