// Catalog in its own process, reached over HTTP: through the gateway's proxy for public routes,
// and through the HTTP transport (what a typed client uses) for its actions.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnNode, type Child } from './process.ts'
import { startNode, type MosaicNode } from '../src/runtime/node.ts'
import catalog from '../src/services/catalog/service.ts'
import { catalogContract } from '../src/services/catalog/contract.ts'
import { httpTransport } from '../src/kit/internal/transport.ts'
import { MosaicError } from '../src/kit/errors.ts'

const cli = join(import.meta.dirname, '..', 'src', 'cli', 'mosaic.ts')
let dataDir: string
let service: Child
let gateway: MosaicNode

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mosaic-split-'))
  service = await spawnNode([cli, 'serve', 'catalog'], { CATALOG_SERVICE_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', LOG_PRETTY: 'false', CATALOG_SEED_DEMO: 'false' })
  gateway = await startNode({ role: 'gateway', services: [catalog], port: 0, env: { CATALOG_SERVICE_URL: service.url, DATA_DIR: ':memory:', LOG_LEVEL: 'silent' } })
})

after(async () => {
  await gateway?.stop()
  await service?.kill('SIGTERM')
  await rm(dataDir, { recursive: true, force: true })
})

test('the gateway runs no catalog of its own: it proxies to the catalog process', async () => {
  assert.equal(gateway.services.has('catalog'), false)
  const created = await fetch(new URL('/api/products', gateway.url), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'split-1', name: 'Remote widget', price: 29.99, stock: 5 }),
  })
  assert.equal(created.status, 201)
  const direct = await (await fetch(new URL('/api/products/split-1', service.url))).json() as { price: number, name: string }
  assert.equal(direct.name, 'Remote widget')
  assert.equal(direct.price, 29.99)
  const viaGateway = await fetch(new URL('/api/products/split-1', gateway.url))
  assert.equal(viaGateway.status, 200)
  assert.equal(viaGateway.headers.get('x-content-type-options'), 'nosniff', 'the gateway adds its headers to proxied answers')
})

test('errors from the remote service arrive as its problem documents', async () => {
  const missing = await fetch(new URL('/api/products/nope', gateway.url))
  assert.equal(missing.status, 404)
  assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  assert.equal((await missing.json() as { code: string }).code, 'not_found')
  const bad = await fetch(new URL('/api/products', gateway.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' })
  assert.equal(bad.status, 400)
  assert.equal((await bad.json() as { code: string }).code, 'malformed_json')
})

test('actions are called over HTTP with validation, error codes and deadlines intact', async () => {
  const transport = httpTransport(service.url)
  try {
    const reserved = await transport.invoke('reserveStock', { orderId: 'split-order', items: [{ productId: 'split-1', quantity: 2 }] }, Date.now() + 2000)
    assert.deepEqual(reserved, { orderId: 'split-order', status: 'reserved', items: [{ productId: 'split-1', quantity: 2 }] })
    await assert.rejects(transport.invoke('reserveStock', { orderId: 'split-order-2', items: [{ productId: 'split-1', quantity: 99 }] }, Date.now() + 2000),
      (e: unknown) => e instanceof MosaicError && e.code === 'out_of_stock' && e.status === 409 && !e.retryable)
    await assert.rejects(transport.invoke('reserveStock', { orderId: 'x', items: [] }, Date.now() + 2000),
      (e: unknown) => e instanceof MosaicError && e.code === 'validation_failed' && e.issues.some((i) => i.path === '/items'))
    await assert.rejects(transport.invoke('dropTables', {}, Date.now() + 2000), (e: unknown) => e instanceof MosaicError && e.code === 'not_found')
    await assert.rejects(transport.invoke('commitStock', { orderId: 'split-order' }, Date.now() - 1), (e: unknown) => e instanceof MosaicError && e.code === 'deadline_exceeded')
    assert.ok(catalogContract.actions.reserveStock.idempotent)
  } finally {
    await transport.close?.()
  }
})

test('when the catalog process is gone, callers get retryable errors, not hangs', async () => {
  const transport = httpTransport('http://127.0.0.1:9')
  await assert.rejects(transport.invoke('commitStock', { orderId: 'x' }, Date.now() + 2000), (e: unknown) => e instanceof MosaicError && e.code === 'unavailable' && e.retryable)
  await transport.close?.()

  assert.equal(await service.kill('SIGTERM'), 0, 'the service stops gracefully')
  const proxied = await fetch(new URL('/api/products/split-1', gateway.url))
  assert.ok([502, 503].includes(proxied.status), `got ${proxied.status}`)
  assert.equal(proxied.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  const problem = await proxied.json() as { code: string, retryable: boolean }
  assert.ok(['bad_gateway', 'unavailable'].includes(problem.code), problem.code)
  assert.equal(problem.retryable, true)
})
