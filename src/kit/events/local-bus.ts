// The embedded bus: a durable queue in the process's own database (schema mosaic_bus).
// The relay moves each producer's outbox rows into per-subscription deliveries in one
// statement, so an event is never both in the outbox and lost, nor routed twice. Deliveries
// are deleted only after the consumer has committed, so a crash at any point redelivers and
// the consumer's inbox absorbs the repeat.
import type { Logger } from 'pino'
import type { CloudEvent } from '../contract.ts'
import type { Engine } from '../db/database.ts'
import { ident } from '../db/database.ts'
import { migrate } from '../db/migrations.ts'
import { eventsHandled, eventsPublished } from '../telemetry/metrics.ts'
import { type Bus, type BusSubscription, type RetryPolicy, defaultRetryPolicy } from './bus.ts'
import { backoffMs } from '../backoff.ts'

export interface LocalBusOptions {
  readonly engine: Engine
  readonly log: Logger
  readonly retry?: RetryPolicy
  /** How often to look for work when not notified (crash recovery, retries coming due). */
  readonly pollMs?: number
  readonly batchSize?: number
}

interface Delivery { id: bigint, subscription: string, event: CloudEvent, attempts: number }

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

export function createLocalBus(options: LocalBusOptions): Bus {
  const { engine, log, retry = defaultRetryPolicy, pollMs = 250, batchSize = 100 } = options
  const db = engine.admin
  const producers: string[] = []
  const subscriptions = new Map<string, BusSubscription>()
  let running = false
  let notified = false
  let wake: (() => void) | undefined
  let loop: Promise<void> | undefined

  async function relay(producer: string): Promise<number> {
    const routes = [...subscriptions.values()].filter((s) => s.source === producer)
    const outbox = `${ident(producer)}.mosaic_outbox`
    const moved = await db.query<{ type: string, n: bigint }>(`
      with moved as (
        delete from ${outbox} where seq in (select seq from ${outbox} order by seq limit ${batchSize})
        returning type, event
      ), routed as (
        insert into mosaic_bus.deliveries (subscription, consumer, event)
        select r.id, r.consumer, m.event
        from moved m join unnest($1::text[], $2::text[], $3::text[]) as r(type, id, consumer) on r.type = m.type
      )
      select type, count(*) as n from moved group by type`,
    [routes.map((r) => r.type), routes.map((r) => r.id), routes.map((r) => r.consumer)])
    let total = 0
    for (const { type, n } of moved) {
      eventsPublished.inc({ service: producer, messaging_destination_name: type }, Number(n))
      total += Number(n)
    }
    return total
  }

  /** Handles one delivery; returns whether it is done with (to delete), else it was rescheduled or dead-lettered here. */
  async function deliverOne(d: Delivery, subscription: BusSubscription): Promise<boolean> {
    const labels = { service: subscription.consumer, subscription: subscription.id }
    try {
      const outcome = await subscription.handle(d.event)
      eventsHandled.inc({ ...labels, outcome: outcome === 'handled' ? 'ok' : 'duplicate' })
      return true
    } catch (error) {
      const attempts = d.attempts + 1
      const message = describe(error)
      if (attempts >= retry.maxAttempts) {
        await db.transaction(async (tx) => {
          await tx.query(`insert into ${ident(subscription.consumer)}.mosaic_dead_letters (subscription, event, attempts, error) values ($1, $2, $3, $4)`,
            [subscription.id, d.event, attempts, message])
          await tx.query('delete from mosaic_bus.deliveries where id = $1', [d.id])
        })
        eventsHandled.inc({ ...labels, outcome: 'dead' })
        log.error({ subscription: subscription.id, event: d.event.id, attempts, err: error }, 'event dead-lettered')
      } else {
        const delay = backoffMs(attempts, retry)
        await db.query('update mosaic_bus.deliveries set attempts = $2, next_at = now() + make_interval(secs => $3), last_error = $4 where id = $1',
          [d.id, attempts, delay / 1000, message])
        eventsHandled.inc({ ...labels, outcome: 'failed' })
        log.warn({ subscription: subscription.id, event: d.event.id, attempts, retryInMs: Math.round(delay), err: error }, 'event handler failed; will retry')
      }
      return false
    }
  }

  async function deliver(): Promise<number> {
    if (subscriptions.size === 0) return 0
    const due = await db.query<Delivery>(
      `select id, subscription, event, attempts from mosaic_bus.deliveries
       where next_at <= now() and subscription = any($1::text[]) order by id limit ${batchSize}`, [[...subscriptions.keys()]])
    const bySubscription = Map.groupBy(due, (d) => d.subscription)
    const done: string[] = []
    try {
      // Subscriptions run side by side; each one's deliveries in order.
      await Promise.all([...bySubscription].map(async ([id, deliveries]) => {
        for (const d of deliveries) {
          if (!running) return
          if (await deliverOne(d, subscriptions.get(id)!)) done.push(String(d.id))
        }
      }))
    } finally {
      // One delete for the batch rather than one statement (and commit) per event: each consumer
      // has committed already, and should we crash first, its inbox absorbs the redelivery.
      if (done.length > 0) await db.query('delete from mosaic_bus.deliveries where id = any($1::bigint[])', [done])
    }
    return due.length
  }

  function idle(): Promise<void> {
    if (notified) {
      notified = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, pollMs)
      wake = () => { clearTimeout(timer); resolve() }
    })
  }

  async function run(): Promise<void> {
    while (running) {
      let worked = 0
      try {
        for (const producer of producers) worked += await relay(producer)
        worked += await deliver()
      } catch (error) {
        if (running) log.error({ err: error }, 'event bus cycle failed')
      }
      if (worked === 0 && running) await idle()
      wake = undefined
    }
  }

  return {
    get running() { return running },
    addProducer(service: string) {
      producers.push(service)
    },
    subscribe(subscription) {
      if (subscriptions.has(subscription.id)) throw new Error(`subscription ${subscription.id} registered twice`)
      subscriptions.set(subscription.id, subscription)
    },
    notify() {
      notified = true
      wake?.()
    },
    async start() {
      await migrate(engine, 'mosaic_bus', [{ owner: 'bus', dir: new URL('./bus-migrations/', import.meta.url) }])
      running = true
      loop = run()
    },
    async stop() {
      running = false
      wake?.()
      await loop
    },
    async replay(consumer, ids) {
      const rows = await db.query(`
        with moved as (
          delete from ${ident(consumer)}.mosaic_dead_letters where $1::bigint[] is null or id = any($1::bigint[])
          returning subscription, event
        )
        insert into mosaic_bus.deliveries (subscription, consumer, event) select subscription, $2, event from moved returning id`,
      [ids ? ids.map(String) : null, consumer])
      if (rows.length > 0) this.notify()
      return rows.length
    },
  }
}
