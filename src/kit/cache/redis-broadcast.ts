// Invalidations between processes over Redis pub/sub (REDIS_URL). Redis being down never fails a
// request: publishing is fire-and-forget, caches keep serving from memory, and the outage is
// logged once. Messages missed meanwhile cannot be replayed (pub/sub keeps nothing), so whoever
// (re)connects treats everything as stale: a process is never stale for longer than the outage,
// and never longer than the cache's TTL.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Broadcast, CacheStore, Invalidation } from './cache.ts'

const channel = 'mosaic:cache:invalidate'

export function createRedisBroadcast(url: string, store: CacheStore, log: Logger): Broadcast {
  const origin = randomUUID()
  // Publishing must not queue behind an outage: a command fails at once while disconnected.
  const publisher = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: false })
  const subscriber = new Redis(url, { maxRetriesPerRequest: null })
  // The connections that have failed since they were last ready: one outage is one warning, even
  // when one connection is back before the other's last failed attempt (both see the same outage).
  const down = new Set<Redis>()
  let lost = false
  const troubleOn =
    (connection: Redis) =>
    (error: Error): void => {
      if (down.size === 0)
        log.warn(
          { err: error },
          'cache: Redis is unreachable; serving from memory, other processes may be stale until it is back (at most CACHE_TTL_MS)',
        )
      down.add(connection)
    }
  const back = (connection: Redis): void => {
    if (down.delete(connection) && down.size === 0) log.info('cache: Redis is back')
  }
  const publisherTrouble = troubleOn(publisher)
  publisher.on('error', publisherTrouble)
  subscriber.on('error', troubleOn(subscriber))
  let subscribed = false
  subscriber.on('ready', () => {
    // A reconnect, not the first connect: anything may have been missed meanwhile.
    if (subscribed) store.receive()
    subscribed = true
    back(subscriber)
  })
  publisher.on('ready', () => {
    back(publisher)
    // Invalidations this process could not send: tell the others to drop everything instead.
    if (lost)
      void publisher.publish(channel, JSON.stringify({ origin })).then(() => {
        lost = false
      }, publisherTrouble)
  })
  subscriber.on('message', (_channel: string, text: string) => {
    const message = parse(text)
    if (message && message.origin !== origin)
      store.receive(message.service === undefined ? undefined : { service: message.service, tags: message.tags ?? [] })
  })
  void subscriber.subscribe(channel).catch(troubleOn(subscriber))

  return {
    publish(invalidation: Invalidation) {
      publisher.publish(channel, JSON.stringify({ origin, ...invalidation })).catch((error: Error) => {
        lost = true
        publisherTrouble(error)
      })
    },
    async close() {
      publisher.disconnect()
      subscriber.disconnect()
    },
  }
}

interface Message {
  origin?: string
  service?: string
  tags?: string[]
}

/** A message from the channel; anything malformed is ignored rather than trusted. */
function parse(text: string): Message | undefined {
  try {
    const message = JSON.parse(text) as Message
    if (typeof message !== 'object' || message === null) return undefined
    if (
      message.service !== undefined &&
      (typeof message.service !== 'string' ||
        !Array.isArray(message.tags) ||
        !message.tags.every((t) => typeof t === 'string'))
    )
      return undefined
    return message
  } catch {
    return undefined
  }
}
