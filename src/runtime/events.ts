// Which bus a process uses, and the check that makes "an event committed to an outbox reaches every
// subscriber in the system" true by construction: a layout in which some subscriber could never
// receive its events does not start.
import type { Static } from 'typebox'
import type { Logger } from 'pino'
import { ConfigError, envPrefix } from '../kit/config.ts'
import type { Engine } from '../kit/db/database.ts'
import type { Bus, Route } from '../kit/events/bus.ts'
import { createLocalBus } from '../kit/events/local-bus.ts'
import type { RuntimeConfig } from './config.ts'

type Config = Static<typeof RuntimeConfig>

export interface BusOptions {
  readonly config: Config
  /** The database the embedded bus keeps its queue in: the one every service shares. */
  readonly engine: Engine
  readonly log: Logger
  /** Every route of the system's event graph. */
  readonly routes: readonly Route[]
  /** This process's name on the broker. */
  readonly name: string
}

export async function createBus({ config, engine, log, routes, name }: BusOptions): Promise<Bus> {
  const retry = { maxAttempts: config.EVENT_MAX_ATTEMPTS, baseDelayMs: config.EVENT_RETRY_BASE_MS, maxDelayMs: 60_000 }
  if (config.BUS === 'nats') {
    // NATS' client is loaded only by the processes that use it (some 20 MB and 0.1 s of CPU).
    const { createNatsBus } = await import('../kit/events/nats-bus.ts')
    return createNatsBus({
      url: config.NATS_URL,
      namespace: config.NATS_NAMESPACE,
      log,
      name,
      retry,
      maxAgeSeconds: config.NATS_STREAM_MAX_AGE_SECONDS,
      duplicateWindowSeconds: config.NATS_DUPLICATE_WINDOW_SECONDS,
      ackWaitSeconds: config.NATS_ACK_WAIT_SECONDS,
    })
  }
  return createLocalBus({ engine, log, routes, retry, pollMs: config.EVENT_POLL_MS })
}

/**
 * With the embedded bus, events travel through a queue table in the one database that every
 * service shares. Refused: a route whose producer or consumer has a database of its own, and a route
 * between this process and another when there is no shared PostgreSQL (each process's PGlite is its
 * own). NATS carries events between any databases and processes. `routes` are those between
 * services of the system: a subscription to a service the system does not run is no path.
 */
export function checkEventPaths(
  config: Config,
  routes: readonly Route[],
  local: ReadonlySet<string>,
  ownDatabase: ReadonlySet<string>,
): void {
  if (config.BUS === 'nats') return
  for (const route of routes) {
    if (!local.has(route.source) && !local.has(route.consumer)) continue // another process's concern
    const lost = `${route.consumer} would never receive ${route.source}'s ${route.type}`
    const own = [route.source, route.consumer].find((s) => ownDatabase.has(s))
    if (own) {
      throw new ConfigError(
        'BUS',
        `is embedded, which queues events in the one database every service shares, but ${envPrefix(own)}_DATABASE_URL gives ${own} its own, so ${lost}: set BUS=nats and NATS_URL`,
        undefined,
      )
    }
    if (local.has(route.source) !== local.has(route.consumer) && !config.DATABASE_URL) {
      throw new ConfigError(
        'BUS',
        `is embedded, and ${route.source} and ${route.consumer} run in different processes, each on its own PGlite, so ${lost}: set DATABASE_URL to one PostgreSQL database shared by every process, or BUS=nats and NATS_URL`,
        undefined,
      )
    }
  }
}
