// The process's cache store: in memory, and with REDIS_URL its invalidations reach every process.
import type { Logger } from 'pino'
import { createCacheStore, type CacheOptions, type CacheStore } from './cache.ts'

export async function openCache(
  options: CacheOptions & { readonly redisUrl?: string | undefined },
  log: Logger,
): Promise<CacheStore> {
  const store = createCacheStore(options)
  if (options.redisUrl && (options.maxEntries ?? 1) > 0) {
    // ioredis is loaded only by processes that use it.
    const { createRedisBroadcast } = await import('./redis-broadcast.ts')
    store.connect(createRedisBroadcast(options.redisUrl, store, log))
  }
  return store
}
