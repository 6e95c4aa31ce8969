// Calls between services in one process: typed from the contract, validated both ways, traced,
// bound to a deadline that propagates to the calls they make in turn.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type, defineContract, defineService, MosaicError } from '../src/kit/index.ts'
import { startNode, type MosaicNode } from '../src/runtime/node.ts'
import catalog from '../src/services/catalog/service.ts'
import { catalogContract } from '../src/services/catalog/contract.ts'

const Ms = Type.Object({ ms: Type.Integer({ minimum: 0 }) })
const Done = Type.Object({ sleptMs: Type.Integer() })

const checkoutContract = defineContract({
  name: 'checkout',
  version: '0.0.0',
  routes: {},
  actions: {
    buy: {
      summary: 'Reserve stock through catalog',
      input: Type.Object({ orderId: Type.String(), productId: Type.String(), quantity: Type.Integer() }),
      output: Type.Object({ status: Type.String() }),
      idempotent: true,
    },
    slow: { summary: 'Sleep', input: Ms, output: Done, idempotent: true },
    relay: { summary: "Call slow, inheriting this call's deadline", input: Ms, output: Done, idempotent: true },
    broken: { summary: 'Answer outside its own contract', input: Type.Object({}), output: Done, idempotent: true },
  },
  events: {},
})

const checkout = defineService(checkoutContract, {
  routes: {},
  actions: {
    async buy({ orderId, productId, quantity }, ctx) {
      const reservation = await ctx.client(catalogContract).reserveStock({ orderId, items: [{ productId, quantity }] })
      return { status: reservation.status }
    },
    async slow({ ms }) {
      await sleep(ms)
      return { sleptMs: ms }
    },
    relay: ({ ms }, ctx) => ctx.client(checkoutContract).slow({ ms }, { timeoutMs: 60_000 }),
    broken: async () => ({ sleptMs: 'soon' }) as never,
  },
})

let node: MosaicNode
before(async () => {
  node = await startNode({
    role: 'gateway',
    services: [catalog, checkout],
    port: 0,
    env: { DATA_DIR: ':memory:', LOG_LEVEL: 'silent', CATALOG_SEED_DEMO: 'false' },
  })
  await node.services
    .get('catalog')!
    .context.db.transaction((tx) =>
      tx.query(
        `insert into products (id, name, price_minor, currency, stock) values ('calls-1', 'Thing', 100, 'USD', 3)`,
      ),
    )
})
after(() => node.stop())

const client = () => node.services.get('checkout')!.context.client(checkoutContract)
const fails = (code: string) => (e: unknown) => e instanceof MosaicError && e.code === code

test('an in-process call reaches the other service and returns its typed answer', async () => {
  assert.deepEqual(await client().buy({ orderId: 'calls-o1', productId: 'calls-1', quantity: 2 }), {
    status: 'reserved',
  })
  await assert.rejects(
    client().buy({ orderId: 'calls-o2', productId: 'calls-1', quantity: 2 }),
    (e: unknown) => e instanceof MosaicError && e.code === 'out_of_stock' && e.status === 409,
  )
})

test('input is validated by the callee and output by the caller', async () => {
  await assert.rejects(
    client().slow({ ms: -1 }),
    (e: unknown) => e instanceof MosaicError && e.code === 'validation_failed' && e.issues[0]!.path === '/ms',
  )
  await assert.rejects(client().slow({} as never), fails('validation_failed'))
  await assert.rejects(
    client().broken({}),
    (e: unknown) => e instanceof MosaicError && e.code === 'bad_gateway' && e.issues.some((i) => i.path === '/sleptMs'),
  )
})

test('a call that outlives its deadline fails fast with a retryable deadline_exceeded', async () => {
  const started = performance.now()
  await assert.rejects(
    client().slow({ ms: 2000 }, { timeoutMs: 100 }),
    (e: unknown) => e instanceof MosaicError && e.code === 'deadline_exceeded' && e.retryable,
  )
  assert.ok(performance.now() - started < 1000, 'the caller was not kept waiting for the callee')
})

test('deadlines propagate: a nested call gets no more than its caller has left', async () => {
  const started = performance.now()
  // relay asks for 60 s for its own call, but it runs inside a 150 ms call.
  await assert.rejects(client().relay({ ms: 2000 }, { timeoutMs: 150 }), fails('deadline_exceeded'))
  assert.ok(performance.now() - started < 1000)
  assert.deepEqual(await client().relay({ ms: 10 }, { timeoutMs: 1000 }), { sleptMs: 10 })
})

test('a service that is neither here nor configured by URL is unavailable, not a crash', async () => {
  const ghost = defineContract({
    name: 'ghost',
    version: '0',
    routes: {},
    actions: { boo: { summary: '', input: Type.Object({}), output: Type.Object({}), idempotent: true } },
    events: {},
  })
  await assert.rejects(
    node.services.get('checkout')!.context.client(ghost).boo({}),
    (e: unknown) => e instanceof MosaicError && e.code === 'unavailable' && /GHOST_SERVICE_URL/.test(e.message),
  )
})

test('calls are measured by service, method and outcome', async () => {
  const metrics = await (await fetch(node.metricsUrl!)).text()
  assert.match(
    metrics,
    /rpc_client_duration_seconds_count\{service="checkout",rpc_service="catalog",rpc_method="reserveStock",outcome="ok",rpc_system="mosaic"\} 1/,
  )
  assert.match(
    metrics,
    /rpc_client_duration_seconds_count\{service="checkout",rpc_service="catalog",rpc_method="reserveStock",outcome="out_of_stock",rpc_system="mosaic"\} 1/,
  )
  assert.match(metrics, /rpc_method="slow",outcome="deadline_exceeded"/)
})
