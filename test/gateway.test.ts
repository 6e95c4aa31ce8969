// The gateway's own pages: the OpenAPI document describes every public route of every contract,
// and the API reference page loads from local files. It starts only when every route it serves is
// in a route table.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startNode, type MosaicNode } from '../src/runtime/node.ts'
import { opsContract } from '../src/gateway/ops/contract.ts'
import { topology } from '../src/runtime/topology.ts'
import type { Contract } from '../src/kit/contract.ts'
import { defaultRouteTable, readRouteTables } from '../src/gateway/route-table.ts'
import { errorSpec } from '../src/kit/errors.ts'
import ledger from './fixtures/ledger.ts'
import { fixtureRoutes } from './fixtures/routes.ts'

let node: MosaicNode
before(async () => {
  node = await startNode({
    role: 'gateway',
    services: topology.map((s) => s.definition),
    port: 0,
    env: { DATA_DIR: ':memory:', LOG_LEVEL: 'silent', CATALOG_SEED_DEMO: 'false' },
  })
})
after(() => node.stop())

const get = (path: string) => fetch(new URL(path, node.url))

/** Whether the contract of `route` ("POST /api/files") lists an error code whose status is 403. */
function serviceForbids(route: string): boolean {
  const spec = topology
    .flatMap((s) => Object.values(s.definition.contract.routes as Contract['routes']))
    .find((r) => `${r.method} ${r.path}` === route)
  return (spec?.errors ?? []).some((code) => errorSpec(code)?.status === 403)
}

test('the OpenAPI document lists every public route of every service once, and no internal action', async () => {
  const doc = (await (await get('/openapi.json')).json()) as {
    openapi: string
    paths: Record<string, Record<string, { operationId: string; responses: object }>>
  }
  assert.equal(doc.openapi, '3.1.0')
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op })),
  )
  // The services' routes, and the gateway's own operator API (src/gateway/ops).
  const expected = [...topology.map((s) => s.definition.contract as Contract), opsContract].flatMap((c) =>
    Object.values(c.routes).map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
  )
  assert.deepEqual(operations.map((o) => `${o.method} ${o.path}`).sort(), expected.sort())
  const ids = operations.map((o) => o.op.operationId)
  assert.equal(new Set(ids).size, ids.length, 'operation ids are unique')
  assert.ok(
    operations.every((o) => 'default' in o.op.responses),
    'every operation documents its problem responses',
  )
  assert.equal(JSON.stringify(doc).includes('_mosaic'), false)
})

test('the OpenAPI document says, from the route table, which operations need a signed-in caller', async () => {
  type Op = { security: Record<string, unknown>[]; responses: Record<string, unknown>; description?: string }
  const doc = (await (await get('/openapi.json')).json()) as {
    paths: Record<string, Record<string, Op>>
    components: { securitySchemes: Record<string, { type: string }> }
  }
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearer', 'session'])
  const table = readRouteTables([defaultRouteTable])
  for (const [route, access] of Object.entries(table)) {
    const [method, path] = route.split(' ') as [string, string]
    const op = doc.paths[path.replace(/:(\w+)/g, '{$1}')]![method.toLowerCase()]!
    if (access.auth === 'public') {
      assert.deepEqual(op.security, [], `${route} is public`)
    } else if (access.auth === 'optional') {
      assert.deepEqual(op.security, [{}, { bearer: [] }, { session: [] }], `${route} takes a caller or none`)
      assert.ok('401' in op.responses, `${route} documents 401 (credentials sent are checked)`)
    } else {
      assert.deepEqual(op.security, [{ bearer: [] }, { session: [] }], `${route} needs a caller`)
      assert.ok('401' in op.responses, `${route} documents 401`)
      if (access.roles) assert.ok('403' in op.responses, `${route} needs a role: documents 403`)
      else
        assert.equal(
          '403' in op.responses,
          serviceForbids(route),
          `${route} documents 403 only when its service may refuse`,
        )
    }
  }
})

test('the API reference page and its assets are served locally, under their own CSP', async () => {
  const page = await get('/docs')
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type')!, /^text\/html/)
  assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/)
  assert.match(await page.text(), /swagger-ui-bundle\.js/)
  for (const asset of ['/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css', '/docs/init.js']) {
    const res = await get(asset)
    assert.equal(res.status, 200, asset)
    assert.ok((await res.arrayBuffer()).byteLength > 20, asset)
  }
  for (const probe of ['/docs/package.json', '/docs/..%2F..%2Fpackage.json', '/docs/index.html']) {
    assert.equal((await get(probe)).status, 404, probe)
  }
})

test('API answers forbid framing and sniffing and are not cached', async () => {
  const res = await get('/api/products')
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  assert.match(res.headers.get('content-security-policy')!, /frame-ancestors 'none'/)
  assert.equal(res.headers.get('cache-control'), 'no-store')
  assert.equal(res.headers.get('x-powered-by'), null)
  assert.equal(res.headers.get('server'), null)
  assert.equal(res.headers.get('access-control-allow-origin'), null, 'no CORS without allowed origins')
})

test('the gateway refuses to start while a route is in no route table', async () => {
  // The ledger fixture's GET /api/ledger is not in policies/routes/: it would be reachable by
  // nobody. (With GATEWAY_ROUTES adding test/fixtures/routes.json it is: see events.test.ts.)
  await assert.rejects(
    startNode({ role: 'gateway', services: [ledger], port: 0, env: { DATA_DIR: ':memory:', LOG_LEVEL: 'silent' } }),
    /does not list GET \/api\/ledger/,
  )
})

test('GATEWAY_ROUTES adds tables; a route listed in two of them is refused, not silently overridden', () => {
  const routes = readRouteTables(fixtureRoutes.split(','))
  assert.deepEqual(routes['GET /api/ledger'], { auth: 'public' })
  assert.deepEqual(routes['POST /api/products'], { auth: 'required', roles: ['staff'] })
  assert.throws(
    () => readRouteTables([defaultRouteTable, defaultRouteTable]),
    /routes\/\w+\.json: (GET|POST|PUT|PATCH|DELETE) \/api\/\S+ is already listed in another route table/,
  )
})

test("every error a route lists is a declared code, and its answer names it under the code's status", async () => {
  const doc = (await (await get('/openapi.json')).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, { description?: string }> }>>
  }
  for (const service of topology) {
    for (const route of Object.values(service.definition.contract.routes as Contract['routes'])) {
      const op = doc.paths[route.path.replace(/:(\w+)/g, '{$1}')]![route.method.toLowerCase()]!
      for (const code of route.errors ?? []) {
        const spec = errorSpec(code)
        assert.ok(spec, `${route.method} ${route.path}: ${code} is declared`)
        assert.match(
          op.responses[String(spec.status)]?.description ?? '',
          new RegExp(`\\b${code}\\b`),
          `${route.method} ${route.path} documents ${code} under ${spec.status}`,
        )
      }
    }
  }
})
