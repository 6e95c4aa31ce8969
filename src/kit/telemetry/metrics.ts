// Prometheus metrics for the whole process (one registry: in embedded mode every service
// shares it, told apart by the `service` label). Names follow OpenTelemetry's semantic
// conventions as exported to Prometheus: dots become underscores, the unit is a suffix.
import { Registry, Histogram, Counter, Gauge, collectDefaultMetrics } from 'prom-client'
import type { Bus, BusStatus } from '../events/bus.ts'

export const registry = new Registry()
collectDefaultMetrics({ register: registry })

const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export const httpServerDuration = new Histogram({
  name: 'http_server_request_duration_seconds',
  help: 'Duration of HTTP server requests',
  labelNames: ['service', 'http_request_method', 'http_route', 'http_response_status_code'],
  buckets: seconds,
  registers: [registry],
})

export const callDuration = new Histogram({
  name: 'rpc_client_duration_seconds',
  help: 'Duration of calls to other services, by outcome (ok or an error code)',
  labelNames: ['service', 'rpc_service', 'rpc_method', 'outcome', 'rpc_system'],
  buckets: seconds,
  registers: [registry],
})

export const eventsPublished = new Counter({
  name: 'messaging_client_sent_messages_total',
  help: 'Events moved from a service outbox onto the bus',
  labelNames: ['service', 'messaging_destination_name', 'messaging_system'],
  registers: [registry],
})

export const eventsHandled = new Counter({
  name: 'messaging_client_consumed_messages_total',
  help: 'Event deliveries handled, by outcome: ok, duplicate (seen before, no effect), failed (will retry), dead (dead-lettered)',
  labelNames: ['service', 'subscription', 'outcome', 'messaging_system'],
  registers: [registry],
})

const backlogSources = new Map<string, () => Promise<number>>()

export const outboxBacklog = new Gauge({
  name: 'mosaic_outbox_backlog',
  help: 'Events written to a service outbox and not yet on the bus',
  labelNames: ['service'],
  registers: [registry],
  async collect() {
    for (const [service, count] of backlogSources) this.set({ service }, await count().catch(() => -1))
  },
})

export function trackOutbox(service: string, count: () => Promise<number>): void {
  backlogSources.set(service, count)
}

let trackedBus: Bus | undefined

export const busConnected = new Gauge({
  name: 'mosaic_bus_connected',
  help: 'Whether the event bus is connected (1) or not (0): NATS, or the embedded bus while running',
  registers: [registry],
  async collect() {
    if (trackedBus)
      this.set(trackedBus.running && (await trackedBus.status().catch(() => ({ connected: false }))).connected ? 1 : 0)
  },
})

/** The bus's status, asked once per scrape for the three gauges that show it. */
let statusOfScrape: Promise<BusStatus | undefined> | undefined
function busStatus(): Promise<BusStatus | undefined> {
  if (!trackedBus?.running) return Promise.resolve(undefined)
  statusOfScrape ??= trackedBus.status().catch(() => undefined)
  setImmediate(() => {
    statusOfScrape = undefined
  })
  return statusOfScrape
}

export const messagingSystem = (bus: Bus | undefined): string => (bus?.kind === 'nats' ? 'nats' : 'mosaic')

const busGauge = (
  name: string,
  help: string,
  pick: (s: BusStatus) => Readonly<Record<string, number>> | undefined,
): Gauge =>
  new Gauge({
    name,
    help,
    labelNames: ['subscription', 'messaging_system'],
    registers: [registry],
    async collect() {
      const status = await busStatus()
      if (!status) return
      for (const [subscription, value] of Object.entries(pick(status) ?? {}))
        this.set({ subscription, messaging_system: messagingSystem(trackedBus) }, value)
    },
  })

export const consumerLag = busGauge(
  'messaging_consumer_lag_messages',
  'Events waiting for a subscription of this process (not yet handled, or being retried)',
  (s) => s.lag,
)
export const consumerRetrying = busGauge(
  'mosaic_consumer_retrying_messages',
  'Of those, deliveries that failed at least once and wait for another attempt (NATS: redelivered)',
  (s) => s.retrying,
)
export const oldestEventAge = busGauge(
  'mosaic_consumer_oldest_event_age_seconds',
  'Age of the oldest event waiting for a subscription of this process (embedded bus only)',
  (s) => s.oldestSeconds,
)

export const processDuration = new Histogram({
  name: 'messaging_process_duration_seconds',
  help: 'Duration of handling one batch of deliveries in a subscription (one transaction), by outcome (ok, failed)',
  labelNames: ['service', 'subscription', 'messaging_system', 'outcome'],
  buckets: seconds,
  registers: [registry],
})

const deadLetterSources = new Map<string, () => Promise<number>>()

export const deadLetters = new Gauge({
  name: 'mosaic_dead_letters',
  help: 'Events a service failed to handle after every attempt, kept for `mosaic events replay`',
  labelNames: ['service'],
  registers: [registry],
  async collect() {
    for (const [service, count] of deadLetterSources) this.set({ service }, await count().catch(() => -1))
  },
})

export function trackBus(bus: Bus): void {
  trackedBus = bus
}

export function trackDeadLetters(service: string, count: () => Promise<number>): void {
  deadLetterSources.set(service, count)
}
export const cacheHits = new Counter({
  name: 'mosaic_cache_hits_total',
  help: 'Reads answered from a service cache (ctx.cache)',
  labelNames: ['service'],
  registers: [registry],
})

export const cacheMisses = new Counter({
  name: 'mosaic_cache_misses_total',
  help: 'Reads a service cache had to load: absent, expired or invalidated',
  labelNames: ['service'],
  registers: [registry],
})
