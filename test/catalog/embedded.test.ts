// The catalog suite on the embedded engine (PGlite in memory), plus the demo seed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { catalogSuite, startCatalogNode, baseEnv, type Product } from './suite.ts'

catalogSuite('embedded PGlite', async (env) => {
  const node = await startCatalogNode({ ...env, DATA_DIR: ':memory:' })
  return { node, stop: () => node.stop() }
})

test('the demo catalog is seeded on first start unless turned off', async () => {
  const env = baseEnv({ DATA_DIR: ':memory:' })
  delete env.CATALOG_SEED_DEMO
  const node = await startCatalogNode(env)
  try {
    const response = await fetch(`${node.url}/api/products?limit=100`)
    assert.equal(response.status, 200)
    const page = (await response.json()) as { items: Product[]; nextCursor: string | null }
    assert.equal(page.items.length, 10)
    assert.equal(page.nextCursor, null)
    assert.ok(page.items.every((p) => p.id.startsWith('prod-') && p.stock > 0 && p.price > 0))
    assert.equal(page.items.find((p) => p.id === 'prod-mouse')?.price, 29.99)
    // The seed describes its products well enough to be searched.
    const search = await fetch(`${node.url}/api/products/search?q=keyboard`)
    const found = (await search.json()) as { items: Product[] }
    assert.equal(found.items[0]?.id, 'prod-keyboard')
  } finally {
    await node.stop()
  }
})
