// Nothing is lost or doubled across kill -9: events committed to the outbox before the crash
// are delivered after restart, and each has exactly one effect however often delivery is cut off.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnNode } from './process.ts'
import { adminEnv, login, bearer } from './auth.ts'
import { seededRandom } from './helpers/seed.ts'

const script = join(import.meta.dirname, 'fixtures', 'crash-node.ts')
type Ledger = { total: number; events: number; duplicates: number }

test('events survive SIGKILL and are handled exactly once in effect', { timeout: 120_000 }, async (t) => {
  const random = seededRandom(t)
  const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-crash-'))
  const env = (delayMs: number) => ({
    DATA_DIR: dataDir,
    CATALOG_SEED_DEMO: 'false',
    LOG_LEVEL: 'silent',
    EVENT_POLL_MS: '50',
    LEDGER_DELAY_MS: String(delayMs),
    ...adminEnv,
  })
  const products = 40
  try {
    // A slow subscriber: the process dies with most events still undelivered.
    let child = await spawnNode([script], env(100))
    const { accessToken } = await login(child.url) // only staff create products
    const created = await Promise.all(
      Array.from({ length: products }, (_, i) =>
        fetch(new URL('/api/products', child.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...bearer(accessToken) },
          body: JSON.stringify({ id: `crash-${i}`, name: `Crash ${i}`, price: 1 }),
        }),
      ),
    )
    assert.deepEqual(
      created.map((r) => r.status),
      Array(products).fill(201),
    )
    const beforeCrash = (await (await fetch(new URL('/api/ledger', child.url))).json()) as Ledger
    assert.equal(await child.kill('SIGKILL'), 'SIGKILL')
    assert.ok(beforeCrash.total < products, `the crash must come before delivery finished (had ${beforeCrash.total})`)

    // Crash again at random moments while deliveries are in flight.
    for (let round = 0; round < 3; round++) {
      child = await spawnNode([script], env(5))
      await new Promise((resolve) => setTimeout(resolve, 20 + random() * 150))
      await child.kill('SIGKILL')
    }

    child = await spawnNode([script], env(0))
    let ledger: Ledger = { total: 0, events: 0, duplicates: 0 }
    for (const until = Date.now() + 20_000; Date.now() < until && ledger.events < products; ) {
      ledger = (await (await fetch(new URL('/api/ledger', child.url))).json()) as Ledger
      if (ledger.events < products) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const list = (await (await fetch(new URL('/api/products?limit=100', child.url))).json()) as { items: unknown[] }
    assert.equal(await child.kill('SIGTERM'), 0, 'a graceful stop exits 0')
    assert.equal(list.items.length, products, 'every acknowledged write survived')
    assert.deepEqual(ledger, { total: products, events: products, duplicates: 0 })
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
})
