import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCacheStore } from './cache.ts'
import { knownJson } from './serialized.ts'

/** A load that counts its calls and answers `value()` at the time it is called. */
function loader<T>(value: () => T): { load: () => Promise<T>; calls: () => number } {
  let calls = 0
  return {
    load: async () => {
      calls++
      return value()
    },
    calls: () => calls,
  }
}

test('a second read is a hit; an invalidated tag is loaded again; failures are not kept', async () => {
  const cache = createCacheStore().forService('shop')
  let name = 'old'
  const { load, calls } = loader(() => ({ name }))
  assert.deepEqual(await cache.get('product:1', load), { name: 'old' })
  assert.deepEqual(await cache.get('product:1', load), { name: 'old' })
  assert.equal(calls(), 1)
  name = 'new'
  cache.invalidate(['product:2'])
  assert.deepEqual(await cache.get('product:1', load), { name: 'old' }, 'another tag leaves it be')
  cache.invalidate(['product:1'])
  assert.deepEqual(await cache.get('product:1', load), { name: 'new' })
  assert.equal(calls(), 2)

  let attempts = 0
  const failing = async (): Promise<string> => {
    if (attempts++ === 0) throw new Error('database down')
    return 'fine'
  }
  await assert.rejects(cache.get('flaky', failing), /database down/)
  assert.equal(await cache.get('flaky', failing), 'fine')
})

test('a load that began before a commit is handed to its caller but never kept for the next', async () => {
  const cache = createCacheStore().forService('shop')
  let release!: (value: string) => void
  const slow = cache.get(
    'page',
    () =>
      new Promise<string>((resolve) => {
        release = resolve
      }),
    { tag: 'products' },
  )
  // The write commits while the read is still on its way with the old row.
  cache.invalidate(['products'])
  const after = cache.get('page', async () => 'new', { tag: 'products' })
  release('old')
  assert.equal(await slow, 'old')
  assert.equal(await after, 'new', 'a read begun after the commit does not join the older load')
  assert.equal(await cache.get('page', async () => 'never', { tag: 'products' }), 'new')
})

test('concurrent misses of one key share a single load', async () => {
  const cache = createCacheStore().forService('shop')
  const { load, calls } = loader(() => 'v')
  assert.deepEqual(await Promise.all([cache.get('k', load), cache.get('k', load), cache.get('k', load)]), [
    'v',
    'v',
    'v',
  ])
  assert.equal(calls(), 1)
})

test('bounded: the least recently used entry goes, forgotten stamps still count, and 0 entries turns it off', async () => {
  const store = createCacheStore({ maxEntries: 2 })
  const cache = store.forService('shop')
  const { load, calls } = loader(() => 'v')
  await cache.get('a', load)
  await cache.get('b', load)
  await cache.get('c', load)
  assert.equal(store.size, 2)
  await cache.get('a', load)
  assert.equal(calls(), 4, 'a was evicted')

  // b's stamp is pushed out by newer ones (2 kept); its old entry must not come back as fresh.
  await cache.get('b', load)
  const before = calls()
  cache.invalidate(['b'])
  cache.invalidate(['x'])
  cache.invalidate(['y'])
  await cache.get('b', load)
  assert.equal(calls(), before + 1)

  const off = createCacheStore({ maxEntries: 0 }).forService('shop')
  const counted = loader(() => 'v')
  await off.get('k', counted.load)
  await off.get('k', counted.load)
  assert.equal(counted.calls(), 2)
})

test('invalidations from another process: by tag of a service, or everything when some may have been missed', async () => {
  const store = createCacheStore()
  const shop = store.forService('shop')
  const other = store.forService('other')
  const { load, calls } = loader(() => 'v')
  await shop.get('product:1', load)
  await other.get('product:1', load)
  store.receive({ service: 'shop', tags: ['product:1'] })
  await shop.get('product:1', load)
  await other.get('product:1', load)
  assert.equal(calls(), 3, 'only the shop entry was dropped')
  store.receive()
  await shop.get('product:1', load)
  await other.get('product:1', load)
  assert.equal(calls(), 5)
})

test('entries expire after ttlMs even without any invalidation', async () => {
  const cache = createCacheStore({ ttlMs: 30 }).forService('shop')
  const { load, calls } = loader(() => 'v')
  await cache.get('k', load)
  await new Promise((resolve) => setTimeout(resolve, 60))
  await cache.get('k', load)
  assert.equal(calls(), 2)
})

test('a cached value carries the JSON the cache made of it, and only while it is the cached value', async () => {
  const cache = createCacheStore().forService('shop')
  let price = 10
  const load = async () => ({ id: 'p1', price })
  const first = await cache.get('product:p1', load)
  assert.equal(knownJson(first), '{"id":"p1","price":10}')
  assert.equal(await cache.get('product:p1', load), first, 'a hit is the same object, JSON and all')
  price = 12
  cache.invalidate(['product:p1'])
  const second = await cache.get('product:p1', load)
  assert.equal(knownJson(second), '{"id":"p1","price":12}', 'a reload has its own JSON')
  assert.equal(knownJson({ id: 'p1', price: 12 }), undefined, 'an equal object the cache does not hold has none')
  const off = createCacheStore({ maxEntries: 0 }).forService('shop')
  assert.equal(knownJson(await off.get('product:p1', load)), undefined, 'nor has a value read with the cache off')
})
