// The process's cache store: in memory, and with REDIS_URL its invalidations reach every process.
import type { Logger } from 'pino'
import { createCacheStore, type CacheOptions, type CacheStore } from './cache.ts'
import { createRedisBroadcast } from './redis-broadcast.ts'

export function openCache(options: CacheOptions & { readonly redisUrl?: string | undefined }, log: Logger): CacheStore {
  const store = createCacheStore(options)
  if (options.redisUrl && (options.maxEntries ?? 1) > 0) store.connect(createRedisBroadcast(options.redisUrl, store, log))
  return store
}
