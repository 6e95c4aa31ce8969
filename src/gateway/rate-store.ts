// Where the gateway counts requests for its rate limits: in Redis (REDIS_URL) so that every
// gateway process shares one count, or in memory. When Redis cannot be reached the counts go to
// memory, logged once, and back to Redis as soon as it answers again: no request fails, or
// waits long, because Redis is down. The stores are @fastify/rate-limit's own.
import { createRequire } from 'node:module'
import type { Logger } from 'pino'
import type { FastifyRateLimitStore, FastifyRateLimitOptions } from '@fastify/rate-limit'
// @ts-expect-error -- the plugin's stores are not in its type declarations, only its store interface is.
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
// @ts-expect-error -- see above
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'

type Store = FastifyRateLimitStore
type Counted = Parameters<Store['incr']>[1]

export interface SharedStore {
  /** The store class to hand to @fastify/rate-limit (it constructs it with its options). */
  readonly Store: new (
    options: FastifyRateLimitOptions,
  ) => Store
  close(): Promise<void>
}

export function sharedStore(redisUrl: string | undefined, log: Logger): SharedStore {
  const local: Store = new LocalStore(false, false, 50_000)
  if (!redisUrl)
    return {
      Store: class {
        constructor() {
          return local
        }
      } as never,
      close: async () => {},
    }

  // Redis' client is loaded only when there is a Redis to count in (some 20 MB and 60 ms of a start).
  const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis')
  const redis = new Redis(redisUrl, {
    // Fail a command at once while disconnected, and within 250 ms when Redis hangs, rather than queue it.
    enableOfflineQueue: false,
    commandTimeout: 250,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  })
  let usingRedis = true
  const fellBack = (error: unknown): void => {
    if (!usingRedis) return
    usingRedis = false
    log.warn({ err: error }, 'Redis is unreachable: rate limits are counted in this process until it is back')
  }
  redis.on('error', fellBack)
  redis.on('ready', () => {
    if (usingRedis) return
    usingRedis = true
    log.info('Redis is back: rate limits are shared again')
  })
  const shared: Store = new RedisStore(false, false, redis, 'mosaic-rate-')

  const store: Store = {
    incr(key, callback: Counted, timeWindow, max) {
      if (redis.status !== 'ready') {
        fellBack(new Error(`Redis connection is ${redis.status}`))
        return local.incr(key, callback, timeWindow, max)
      }
      shared.incr(
        key,
        (error, result) => {
          if (!error) return callback(null, result)
          fellBack(error)
          local.incr(key, callback, timeWindow, max)
        },
        timeWindow,
        max,
      )
    },
    child: () => store,
  }
  return {
    Store: class {
      constructor() {
        return store
      }
    } as never,
    close: async () => {
      redis.disconnect()
    },
  }
}
