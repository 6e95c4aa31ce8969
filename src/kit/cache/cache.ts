// A read cache for services (`ctx.cache`): values live in this process (an lru-cache bounded by
// entries and bytes), so a hit costs no round trip; what crosses processes is invalidation. An
// entry belongs to one tag (`product:p1`, `products`); a service's transaction names the tags its
// change makes stale (`tx.invalidate(...)`) and they are dropped here the moment it commits, and in
// every other process when the broadcast (Redis pub/sub) reaches it. See docs/cache.md.
import { LRUCache } from 'lru-cache'
import { cacheHits, cacheMisses } from '../telemetry/metrics.ts'
import { rememberJson } from './serialized.ts'

export interface CacheOptions {
  /** How long an entry may be served at most: the staleness bound for replicas that miss a broadcast. */
  readonly ttlMs?: number
  /** Entries kept at most; 0 turns the cache off (every read loads). */
  readonly maxEntries?: number
  /** Bytes kept at most, counting each value as its JSON. */
  readonly maxBytes?: number
}

export interface Cache {
  /**
   * The value under `key`, loaded with `load` on a miss (one load at a time per key). It is a
   * shared object: never change it. Failures are not cached. `tag` defaults to the key.
   */
  get<T>(key: string, load: () => Promise<T>, options?: { readonly tag?: string }): Promise<T>
  /** Makes every entry under `tags` stale in this process now (the kit calls it after a commit). */
  invalidate(tags: readonly string[]): void
}

/** An invalidation as it travels between processes. */
export interface Invalidation {
  readonly service: string
  readonly tags: readonly string[]
}

/** Carries invalidations to the other processes (Redis pub/sub); the store's `receive` applies theirs here. */
export interface Broadcast {
  publish(invalidation: Invalidation): void
  close(): Promise<void>
}

export interface CacheStore {
  forService(service: string): Cache
  /** Applies an invalidation from another process; `undefined`: everything (a broadcast may have been missed). */
  receive(invalidation?: Invalidation): void
  /** Every cache of the process publishes its invalidations here from now on. */
  connect(broadcast: Broadcast): void
  readonly size: number
  close(): Promise<void>
}

interface Entry {
  readonly value: unknown
  /** The value's JSON, which its size is counted by, kept for the answer (serialized.ts). */
  readonly json: string | undefined
  readonly tag: string
  readonly born: number
}

/**
 * Staleness is decided by a clock rather than by deleting entries: an invalidation stamps its tag
 * with the next tick, and an entry counts only if its load started at or after its tag's stamp.
 * A load that was already running when the write committed can then never store the old value
 * for later readers. Stamps are bounded too: when one is evicted, the floor rises to it, so every
 * entry older than a forgotten stamp counts as stale.
 */
export function createCacheStore(options: CacheOptions = {}): CacheStore {
  const { ttlMs = 30_000, maxEntries = 10_000, maxBytes = 64 * 1024 * 1024 } = options
  const origin = new Set<Broadcast>()
  let clock = 0
  let floor = 0
  const stamps = new LRUCache<string, number>({
    max: Math.max(maxEntries, 1),
    dispose: (stamp, _tag, reason) => {
      if (reason === 'evict') floor = Math.max(floor, stamp)
    },
  })
  const entries =
    maxEntries > 0
      ? new LRUCache<string, Entry>({
          max: maxEntries,
          maxSize: maxBytes,
          ttl: ttlMs,
          // lru-cache reads the clock once per this many ms (and sets a timer to forget it): at the
          // default of 1 ms a busy cache set a timer every millisecond. Entries may live this much
          // past their TTL.
          ttlResolution: Math.min(10, ttlMs),
          sizeCalculation: (entry) => Math.max(entry.json?.length ?? 1, 1),
        })
      : undefined
  const loading = new Map<string, { born: number; tag: string; value: Promise<unknown> }>()
  const fresh = (born: number, tag: string): boolean => born >= Math.max(floor, stamps.peek(tag) ?? 0)
  const stamp = (tags: readonly string[]): void => {
    const tick = ++clock
    for (const tag of tags) stamps.set(tag, tick)
  }

  const forService = (service: string): Cache => {
    const hits = cacheHits.labels(service)
    const misses = cacheMisses.labels(service)
    const scoped = (tag: string): string => `${service}\u0000${tag}`
    const miss = async <T>(id: string, tag: string, load: () => Promise<T>): Promise<T> => {
      misses.inc()
      const running = loading.get(id)
      if (running && fresh(running.born, running.tag)) return running.value as Promise<T>
      const born = clock
      const value = load()
      const flight = { born, tag, value }
      loading.set(id, flight)
      try {
        const loaded = await value
        if (fresh(born, tag)) {
          const json = JSON.stringify(loaded) as string | undefined
          entries!.set(id, { value: loaded, json, tag, born })
          if (json !== undefined) rememberJson(loaded, json)
        }
        return loaded
      } finally {
        if (loading.get(id) === flight) loading.delete(id)
      }
    }
    return {
      // Not async: a hit, the common case, answers with one settled promise and no other.
      get<T>(key: string, load: () => Promise<T>, { tag = key } = {}) {
        if (!entries) return load()
        const id = `${scoped(tag)}\u0000${key}`
        const entry = entries.get(id)
        if (entry && fresh(entry.born, entry.tag)) {
          hits.inc()
          return Promise.resolve(entry.value as T)
        }
        return miss(id, scoped(tag), load)
      },
      invalidate(tags) {
        if (tags.length === 0) return
        stamp(tags.map(scoped))
        for (const broadcast of origin) broadcast.publish({ service, tags })
      },
    }
  }

  return {
    forService,
    receive(invalidation) {
      if (invalidation) stamp(invalidation.tags.map((tag) => `${invalidation.service}\u0000${tag}`))
      else floor = ++clock
    },
    connect(broadcast) {
      origin.add(broadcast)
    },
    get size() {
      return entries?.size ?? 0
    },
    async close() {
      for (const broadcast of origin) await broadcast.close()
      origin.clear()
    },
  }
}
