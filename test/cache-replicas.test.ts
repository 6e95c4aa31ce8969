// The read cache across replicas: two `mosaic serve catalog` processes on one PostgreSQL database
// and a private Redis. A write through one is served by the other as soon as the invalidation
// arrives (the cache TTL is an hour here, so nothing else could refresh it), and Redis going away
// fails no request; when it is back, whatever was missed meanwhile is dropped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { cli, spawnNode, logLines, type Child } from './process.ts'
import { privateRedis } from './redis.ts'
import { INTERNAL_SECRET } from './auth.ts'
import { createCredentials, EDGE_HEADER } from '../src/kit/internal/credentials.ts'

const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const credentials = createCredentials(INTERNAL_SECRET)

interface Product {
  name: string
  stock: number
}

const read = async (node: Child): Promise<Product> => {
  const response = await fetch(new URL('/api/products/prod-mouse', node.url))
  assert.equal(response.status, 200)
  return (await response.json()) as Product
}

async function rename(node: Child, name: string): Promise<void> {
  const staff = await credentials.signEdge({
    clientIp: '127.0.0.1',
    identity: { userId: 'staff-1', tenantId: 'default', roles: ['staff'] },
  })
  const response = await fetch(new URL('/api/products/prod-mouse', node.url), {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', [EDGE_HEADER]: staff },
    body: JSON.stringify({ name }),
  })
  assert.equal(response.status, 200, await response.text())
}

/** Reads through `node` until it answers `name`; then it must never answer anything older. */
async function servesFromNowOn(node: Child, name: string, withinMs: number): Promise<number> {
  const started = performance.now()
  while ((await read(node)).name !== name) {
    assert.ok(
      performance.now() - started < withinMs,
      `${node.url} still serves an older name than ${name} after ${withinMs} ms`,
    )
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const took = performance.now() - started
  for (let i = 0; i < 20; i++) assert.equal((await read(node)).name, name)
  return took
}

const cacheHits = async (node: Child): Promise<number> =>
  Number(
    /^mosaic_cache_hits_total\{service="catalog"\} (\d+)$/m.exec(await (await fetch(node.metricsUrl)).text())?.[1] ?? 0,
  )

test('a write through one replica is not served stale by the other once the invalidation arrives, with Redis up, down and back', async (t) => {
  const redis = await privateRedis()
  t.after(() => redis.stop())
  const database = `mosaic_cache_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${database}`)
  t.after(async () => {
    await admin.unsafe(`drop database if exists ${database} with (force)`)
    await admin.end({ timeout: 5 })
  })
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  const env = {
    CATALOG_SERVICE_PORT: '0',
    DATABASE_URL: url.toString(),
    REDIS_URL: redis.url,
    CACHE_TTL_MS: '3600000',
    MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
  }
  const a = await spawnNode([cli, 'serve', 'catalog'], { ...env, CATALOG_SEED_DEMO: 'true' })
  t.after(() => a.kill('SIGTERM'))
  const b = await spawnNode([cli, 'serve', 'catalog'], { ...env, CATALOG_SEED_DEMO: 'false' })
  t.after(() => b.kill('SIGTERM'))

  // B holds the product in its cache: the second read is a hit.
  assert.equal((await read(b)).name, 'Wireless Mouse')
  const hits = await cacheHits(b)
  assert.equal((await read(b)).name, 'Wireless Mouse')
  assert.equal(await cacheHits(b), hits + 1)

  await rename(a, 'Mouse, renamed through A')
  assert.equal((await read(a)).name, 'Mouse, renamed through A', 'the writer itself is never stale')
  const took = await servesFromNowOn(b, 'Mouse, renamed through A', 2_000)
  t.diagnostic(`B served the change ${took.toFixed(0)} ms after A's write answered`)

  // Redis goes away: requests on both sides still succeed, each process from its own memory.
  await redis.stop()
  await rename(a, 'Mouse, renamed while Redis was down')
  assert.equal((await read(a)).name, 'Mouse, renamed while Redis was down')
  await read(b)
  await rename(a, 'Mouse, renamed again while Redis was down')
  await read(b)

  // Back: what B missed is dropped, and the writer's later changes travel again.
  await redis.start()
  await servesFromNowOn(b, 'Mouse, renamed again while Redis was down', 10_000)
  await rename(a, 'Mouse, renamed after Redis came back')
  await servesFromNowOn(b, 'Mouse, renamed after Redis came back', 2_000)

  const warnings = logLines(a.output()).filter((line) => /Redis is unreachable/.test(String(line.msg)))
  assert.equal(warnings.length, 1, 'the outage is logged once, not once per request')
})
