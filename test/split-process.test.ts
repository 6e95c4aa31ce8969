// Catalog in its own process, reached over HTTP: through the gateway's proxy for public routes,
// and through the HTTP transport (what a typed client uses) for its actions. The gateway (with
// identity inside) verifies callers and signs who they are into a credential; the catalog process
// believes only credentials signed with the secret they share, MOSAIC_INTERNAL_SECRET.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readRouteTables, defaultRouteTable } from '../src/gateway/route-table.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { cli, runNode, spawnNode, closedPort, type Child } from './process.ts'
import { adminEnv, login, bearer, INTERNAL_SECRET } from './auth.ts'
import { problemOf } from './helpers/http.ts'
import { customer } from './helpers/users.ts'
import { startNode, type MosaicNode } from '../src/runtime/node.ts'
import identity from '../src/services/identity/service.ts'
import catalog from '../src/services/catalog/service.ts'
import { catalogContract } from '../src/services/catalog/contract.ts'
import { httpTransport } from '../src/kit/internal/transport.ts'
import { upstreamAt } from '../src/kit/calls/upstream.ts'
import { pino } from 'pino'
import { createCredentials, CALLER_HEADER, EDGE_HEADER } from '../src/kit/internal/credentials.ts'
import { MosaicError } from '../src/kit/errors.ts'
import { natsNamespace } from './infra.ts'

const credentials = createCredentials(INTERNAL_SECRET)
const silent = pino({ level: 'silent' })
/** What an attacker who guessed wrong, or a process of another deployment, would sign with. */
const impostor = createCredentials('another-deployment-secret-0123456789abcdef')

let dataDir: string
let service: Child
let gateway: MosaicNode
let adminToken: string

/** A gateway with identity in-process and the catalog proxied to `service`. */
function startGateway(env: NodeJS.ProcessEnv = {}): Promise<MosaicNode> {
  return startNode({
    role: 'gateway',
    services: [identity, catalog],
    port: 0,
    env: {
      CATALOG_SERVICE_URL: service.url,
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      HOST: '127.0.0.1',
      DATA_DIR: ':memory:',
      LOG_LEVEL: 'silent',
      ...adminEnv,
      ...env,
    },
  })
}

const postProduct = (base: string, body: object, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(new URL('/api/products', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })

const stockOf = async (id: string): Promise<number> =>
  ((await (await fetch(new URL(`/api/products/${id}`, service.url))).json()) as { stock: number }).stock

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mosaic-split-'))
  // Catalog's events have subscribers elsewhere in the system (analytics): alone on its own PGlite,
  // it needs the distributed bus to keep them (test/events/processes.test.ts shows the refusal).
  const bus = { BUS: 'nats', NATS_NAMESPACE: natsNamespace({ after: (fn) => after(fn) }) }
  service = await spawnNode([cli, 'serve', 'catalog'], {
    CATALOG_SERVICE_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    CATALOG_SEED_DEMO: 'false',
    MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
    ...bus,
  })
  gateway = await startGateway()
  adminToken = (await login(gateway.url)).accessToken
})

after(async () => {
  await gateway?.stop()
  await service?.kill('SIGTERM')
  await rm(dataDir, { recursive: true, force: true })
})

test('the gateway runs no catalog of its own: it proxies to the catalog process, with the staff caller signed in the credential', async () => {
  assert.equal(gateway.services.has('catalog'), false)
  assert.equal(gateway.services.has('identity'), true, 'identity runs in the gateway process')
  const created = await postProduct(
    gateway.url,
    { id: 'split-1', name: 'Remote widget', price: 29.99, stock: 5 },
    bearer(adminToken),
  )
  assert.equal(created.status, 201, await created.text())
  const direct = (await (await fetch(new URL('/api/products/split-1', service.url))).json()) as {
    price: number
    name: string
  }
  assert.equal(direct.name, 'Remote widget')
  assert.equal(direct.price, 29.99)
  const viaGateway = await fetch(new URL('/api/products/split-1', gateway.url))
  assert.equal(viaGateway.status, 200)
  assert.equal(
    viaGateway.headers.get('x-content-type-options'),
    'nosniff',
    'the gateway adds its headers to proxied answers',
  )
  // The same write straight to the catalog process, with no credential: nobody is calling.
  const anonymous = await postProduct(service.url, { id: 'split-anonymous', name: 'Direct', price: 1 })
  await problemOf(anonymous, 401, 'unauthenticated')
})

test('errors from the remote service arrive as its problem documents', async () => {
  const missing = await fetch(new URL('/api/products/nope', gateway.url))
  await problemOf(missing, 404, 'not_found')
  const bad = await fetch(new URL('/api/products', gateway.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(adminToken) },
    body: '{"name":',
  })
  await problemOf(bad, 400, 'malformed_json')
})

test('a wrong method on a proxied path is 405 with Allow, from the route table; an unknown path stays 404', async () => {
  for (const [method, path, allow] of [
    ['PUT', '/api/products/split-1', 'GET, HEAD, PATCH, DELETE'],
    ['PUT', '/api/products', 'GET, HEAD, POST'],
  ] as const) {
    const reply = await fetch(new URL(path, gateway.url), { method, ...bearer(adminToken) })
    assert.equal(reply.headers.get('allow'), allow, `${method} ${path}`)
    const problem = await problemOf(reply, 405, 'method_not_allowed')
    assert.match(String(problem.detail), new RegExp(`not ${method}$`))
  }
  const unknown = await fetch(new URL('/api/products/split-1/parts', gateway.url), { method: 'DELETE' })
  assert.equal(unknown.headers.get('allow'), null)
  await problemOf(unknown, 404, 'route_not_found')
})

test('a small POST goes to another instance when the first refuses the connection, and is created once', async () => {
  // Round-robin over [nothing listening, the catalog]: each first attempt of a call alternates.
  const dead = `http://127.0.0.1:${await closedPort()}`
  const failover = await startGateway({
    CATALOG_SERVICE_URL: `${dead},${service.url}`,
    CATALOG_CALLS_BALANCER: 'round-robin',
    CATALOG_CALLS_PROBE_MS: '600000', // the refused instance stays a candidate: the POSTs must meet it
    CATALOG_CALLS_RETRY_BUDGET_PERCENT: '100', // a fresh gateway has earned no retries yet
    CATALOG_CALLS_BACKOFF_MIN_MS: '1',
    CATALOG_CALLS_BACKOFF_MAX_MS: '2',
  })
  try {
    const token = (await login(failover.url)).accessToken
    const id = `split-failover-${randomUUID()}`
    for (let i = 0; i < 4; i++) {
      const created = await postProduct(
        failover.url,
        { id: `${id}-${i}`, name: `Failover ${i}`, price: 2, stock: 1 },
        bearer(token),
      )
      const text = await created.text()
      assert.equal(created.status, 201, text)
      assert.equal((JSON.parse(text) as { id: string }).id, `${id}-${i}`)
    }
    const listed = (await (await fetch(new URL('/api/products?limit=100', service.url))).json()) as {
      items: { id: string }[]
    }
    assert.deepEqual(
      listed.items
        .map((p) => p.id)
        .filter((p) => p.startsWith(id))
        .sort(),
      [0, 1, 2, 3].map((i) => `${id}-${i}`),
    )
  } finally {
    await failover.stop()
  }
})

test('a POST the instance may have acted on is not sent again without an idempotency key', async () => {
  // The instance answers 503 after reading the request: it may have acted, so no second attempt.
  let received = 0
  const flaky = createServer((request, response) => {
    received++
    request.resume().on('end', () => {
      response.writeHead(503, { 'content-type': 'application/problem+json' })
      response.end(JSON.stringify({ code: 'unavailable', status: 503, title: 'Unavailable' }))
    })
  }).listen(0, '127.0.0.1')
  await once(flaky, 'listening')
  const flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`
  const node = await startGateway({
    CATALOG_SERVICE_URL: flakyUrl,
    CATALOG_CALLS_PROBE_MS: '600000',
    CATALOG_CALLS_RETRY_BUDGET_PERCENT: '100',
    CATALOG_CALLS_BACKOFF_MIN_MS: '1',
    CATALOG_CALLS_BACKOFF_MAX_MS: '2',
  })
  try {
    const token = bearer((await login(node.url)).accessToken)
    const body = { id: 'split-flaky', name: 'Flaky', price: 1 }
    await problemOf(await postProduct(node.url, body, token), 503, 'unavailable')
    assert.equal(received, 1, 'sent once')
    received = 0
    const keyed = await postProduct(node.url, body, { ...token, 'idempotency-key': randomUUID() })
    await problemOf(keyed, 503, 'unavailable')
    assert.ok(received > 1, `an idempotency-keyed POST is retried: ${received} attempts`)
  } finally {
    await node.stop()
    flaky.close()
  }
})

test('actions are called over HTTP with validation, error codes and deadlines intact', async () => {
  const transport = httpTransport(upstreamAt('catalog', [service.url], silent), credentials)
  try {
    const reserved = await transport.invoke(
      'reserveStock',
      { orderId: 'split-order', items: [{ productId: 'split-1', quantity: 2 }] },
      Date.now() + 2000,
      'orders',
    )
    assert.deepEqual(reserved, {
      orderId: 'split-order',
      status: 'reserved',
      items: [{ productId: 'split-1', quantity: 2 }],
    })
    await assert.rejects(
      transport.invoke(
        'reserveStock',
        { orderId: 'split-order-2', items: [{ productId: 'split-1', quantity: 99 }] },
        Date.now() + 2000,
        'orders',
      ),
      (e: unknown) => e instanceof MosaicError && e.code === 'out_of_stock' && e.status === 409 && !e.retryable,
    )
    await assert.rejects(
      transport.invoke('reserveStock', { orderId: 'x', items: [] }, Date.now() + 2000, 'orders'),
      (e: unknown) =>
        e instanceof MosaicError && e.code === 'validation_failed' && e.issues.some((i) => i.path === '/items'),
    )
    await assert.rejects(
      transport.invoke('dropTables', {}, Date.now() + 2000, 'orders'),
      (e: unknown) => e instanceof MosaicError && e.code === 'not_found',
    )
    await assert.rejects(
      transport.invoke('commitStock', { orderId: 'split-order' }, Date.now() - 1, 'orders'),
      (e: unknown) => e instanceof MosaicError && e.code === 'deadline_exceeded',
    )
    assert.ok(catalogContract.actions.reserveStock.idempotent)
  } finally {
    await transport.close?.()
  }
})

test('the actions endpoint admits only services that sign with the shared secret', async () => {
  const before = await stockOf('split-1')
  const input = JSON.stringify({
    orderId: `split-forged-${randomUUID()}`,
    items: [{ productId: 'split-1', quantity: 1 }],
  })
  const attempt = (headers: Record<string, string>, path = '/_mosaic/actions/reserveStock'): Promise<Response> =>
    fetch(new URL(path, service.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: input,
    })
  const refusals: [string, Response][] = [
    ['no credential', await attempt({})],
    ['no credential, the path spelled differently', await attempt({}, '/%5Fmosaic/actions/reserveStock')],
    ['a garbage credential', await attempt({ [CALLER_HEADER]: 'not.a.token' })],
    [
      'a service credential signed with another secret',
      await attempt({ [CALLER_HEADER]: impostor.callerToken('orders') }),
    ],
    // What the gateway signs for a user is not a service's credential, even signed with the right secret.
    [
      'an edge credential',
      await attempt({
        [CALLER_HEADER]: credentials.signEdge({
          clientIp: '127.0.0.1',
          identity: { userId: 'u', tenantId: 'default', roles: ['admin'] },
        }),
      }),
    ],
    [
      'identity headers instead of a credential',
      await attempt({
        'x-user-id': 'u',
        'x-permissions': 'admin',
        [EDGE_HEADER]: credentials.signEdge({ clientIp: '127.0.0.1' }),
      }),
    ],
  ]
  for (const [what, response] of refusals) {
    await problemOf(response, 401, 'unauthenticated', what)
  }
  // The typed transport, holding the wrong secret, is refused the same way.
  const wrong = httpTransport(upstreamAt('catalog', [service.url], silent), impostor)
  try {
    await assert.rejects(
      wrong.invoke('reserveStock', JSON.parse(input), Date.now() + 2000, 'orders'),
      (e: unknown) => e instanceof MosaicError && e.code === 'unauthenticated' && e.status === 401,
    )
  } finally {
    await wrong.close?.()
  }
  assert.equal(await stockOf('split-1'), before, 'no refused call reserved anything')
  // The gateway does not expose the actions endpoint at all.
  const throughGateway = await fetch(new URL('/_mosaic/actions/reserveStock', gateway.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', [CALLER_HEADER]: credentials.callerToken('orders') },
    body: input,
  })
  assert.equal(throughGateway.status, 404)
})

test('identity headers a client sends make it nobody: the gateway drops them, the catalog process ignores them', async () => {
  const forgedEdge = impostor.signEdge({
    clientIp: '127.0.0.1',
    identity: { userId: 'root', tenantId: 'default', roles: ['admin'] },
  })
  const forged = {
    'x-user-id': 'root',
    'x-tenant-id': 'default',
    'x-permissions': 'admin,staff',
    [EDGE_HEADER]: forgedEdge,
    [CALLER_HEADER]: impostor.callerToken('gateway'),
  }

  // Through the gateway: anonymous stays anonymous, a customer stays a customer.
  const anonymous = await postProduct(gateway.url, { id: 'split-forged-1', name: 'Forged', price: 1 }, forged)
  await problemOf(anonymous, 401, 'unauthenticated')
  const asCustomer = await postProduct(
    gateway.url,
    { id: 'split-forged-2', name: 'Forged', price: 1 },
    { ...forged, ...bearer((await customer(gateway.url)).token) },
  )
  await problemOf(asCustomer, 403, 'forbidden')
  // A public read with a forged credential is proxied with the gateway's own in its place.
  assert.equal((await fetch(new URL('/api/products/split-1', gateway.url), { headers: forged })).status, 200)

  // Straight to the catalog process: only a credential signed with the shared secret counts.
  for (const [what, headers] of [
    ['an edge credential signed with another secret', { [EDGE_HEADER]: forgedEdge }],
    ['a garbage edge credential', { [EDGE_HEADER]: 'x.y.z' }],
    ['plain identity headers', { 'x-user-id': 'root', 'x-tenant-id': 'default', 'x-permissions': 'admin,staff' }],
  ] as const) {
    const response = await postProduct(service.url, { id: 'split-forged-3', name: 'Forged', price: 1 }, headers)
    await problemOf(response, 401, 'unauthenticated', what)
  }
  for (const id of ['split-forged-1', 'split-forged-2', 'split-forged-3']) {
    assert.equal((await fetch(new URL(`/api/products/${id}`, service.url))).status, 404, `${id} was not created`)
  }
})

test('the catalog process checks the policies itself: a customer let through by a loose route table is refused there', async (t) => {
  // A gateway whose route table (wrongly) lets any signed-in user write products.
  const table = { routes: readRouteTables([defaultRouteTable]) }
  for (const route of ['POST /api/products', 'PATCH /api/products/:id', 'DELETE /api/products/:id'])
    table.routes[route] = { auth: 'required' }
  const file = join(dataDir, 'loose-routes.json')
  await writeFile(file, JSON.stringify(table))
  const loose = await startGateway({ GATEWAY_ROUTES: file })
  t.after(() => loose.stop())

  const token = (await customer(loose.url)).token
  const refused = await postProduct(loose.url, { id: 'split-loose', name: 'Loose', price: 1 }, bearer(token))
  const problem = await problemOf(refused, 403, 'forbidden')
  assert.match(problem.detail ?? '', /only staff/, 'refused by the catalog service, not by the route table')
  assert.equal((await fetch(new URL('/api/products/split-loose', service.url))).status, 404)
  for (const method of ['PATCH', 'DELETE']) {
    const response =
      method === 'PATCH'
        ? await fetch(new URL('/api/products/split-1', loose.url), {
            method,
            headers: { 'content-type': 'application/json', ...bearer(token) },
            body: '{"price":0.01}',
          })
        : await fetch(new URL('/api/products/split-1', loose.url), { method, headers: bearer(token) })
    assert.equal(response.status, 403, method)
  }
  assert.equal(
    ((await (await fetch(new URL('/api/products/split-1', service.url))).json()) as { price: number }).price,
    29.99,
  )
})

test('separate processes refuse to start without MOSAIC_INTERNAL_SECRET, and never print it', {
  concurrency: true,
}, async (t) => {
  const env = { LOG_PRETTY: 'false', LOG_LEVEL: 'info', DATA_DIR: ':memory:', PORT: '0', CATALOG_SERVICE_PORT: '0' }
  const cases: [what: string, args: string[], extra: Record<string, string>][] = [
    ['serve catalog without it', ['serve', 'catalog'], { MOSAIC_INTERNAL_SECRET: '' }],
    ['serve catalog with one too short', ['serve', 'catalog'], { MOSAIC_INTERNAL_SECRET: 'hunter2-is-too-short' }],
    [
      'start with a service proxied, without it',
      ['start'],
      { MOSAIC_INTERNAL_SECRET: '', CATALOG_SERVICE_URL: 'http://127.0.0.1:9' },
    ],
  ]
  await Promise.all(
    cases.map(([what, args, extra]) =>
      t.test(what, async () => {
        const { code, stdout, stderr } = await runNode([cli, ...args], { ...env, ...extra })
        assert.equal(code, 1)
        assert.equal(stderr.split('\n').length, 2, `one line:\n${stderr}`)
        assert.ok(stderr.startsWith('mosaic: invalid configuration: MOSAIC_INTERNAL_SECRET '), stderr)
        assert.ok(!stderr.includes('hunter2'), 'the secret is not echoed')
        assert.equal(stdout, '', 'nothing started, so nothing logged')
      }),
    ),
  )
})

test('when the catalog process is gone, callers get retryable errors, not hangs', async () => {
  const transport = httpTransport(upstreamAt('catalog', ['http://127.0.0.1:9'], silent), credentials)
  await assert.rejects(
    transport.invoke('commitStock', { orderId: 'x' }, Date.now() + 2000, 'orders'),
    (e: unknown) => e instanceof MosaicError && e.code === 'unavailable' && e.retryable,
  )
  await transport.close?.()

  assert.equal(await service.kill('SIGTERM'), 0, 'the service stops gracefully')
  const proxied = await fetch(new URL('/api/products/split-1', gateway.url))
  assert.ok([502, 503].includes(proxied.status), `got ${proxied.status}`)
  const problem = await problemOf(proxied, proxied.status, proxied.status === 502 ? 'bad_gateway' : 'unavailable')
  assert.equal(problem.retryable, true)
})
