// The embedded bus: a durable queue (schema mosaic_bus) in the database every service shares. A
// producer's relay queues one delivery per route of the system's event graph in the transaction that
// empties its outbox, so an event is never both in the outbox and lost, nor queued twice; a delivery
// is deleted only after its consumer has committed, so a crash at any point redelivers and the
// consumer's inbox absorbs the repeat. Processes that share one PostgreSQL database can share this
// bus: each delivers its own subscriptions' rows, claimed with a lease so two replicas of a consumer
// do not both handle one.
import type { Logger } from 'pino'
import type { CloudEvent } from '../contract.ts'
import type { Engine, Sql } from '../db/database.ts'
import { migrate, type MigrationSource } from '../db/migrations.ts'
import type { Bus, BusSubscription, Route, RetryPolicy } from './bus.ts'
import { defaultRetryPolicy } from './bus.ts'
import { dispatch, type Delivery } from './dispatch.ts'
import { startWorker, type Worker } from '../worker.ts'

/** The embedded bus's queue: a schema of its own in the database it shares with the services. */
export const BUS_SCHEMA = 'mosaic_bus'
export const busMigrations: MigrationSource = { owner: 'bus', dir: new URL('./bus-migrations/', import.meta.url) }

export interface LocalBusOptions {
  readonly engine: Engine
  readonly log: Logger
  /** Every route of the system, wherever its consumer runs: events are queued for all of them. */
  readonly routes: readonly Route[]
  readonly retry?: RetryPolicy
  /** How often to look for work when not notified (retries coming due, other processes' events). */
  readonly pollMs?: number
  /** Most deliveries of one subscription handled in one transaction. */
  readonly batchSize?: number
  /** How long a claimed delivery is left to its process before another may take it (shared PostgreSQL). */
  readonly leaseSeconds?: number
}

interface Row extends Delivery {
  readonly id: bigint
  readonly subscription: string
}

export function createLocalBus(options: LocalBusOptions): Bus {
  // A batch is one transaction of its consumer. PGlite is the one connection of the whole process,
  // which a long batch would hold while requests wait: smaller batches there.
  const {
    engine,
    log,
    retry = defaultRetryPolicy,
    pollMs = 250,
    batchSize = engine.kind === 'pglite' ? 16 : 100,
    leaseSeconds = 60,
  } = options
  const db = engine.admin
  const routes = [...options.routes]
  const subscriptions = new Map<string, BusSubscription>()

  // One process on PGlite needs no claim; processes sharing PostgreSQL lease what they take.
  const due = `select id, subscription, event, attempts from mosaic_bus.deliveries
    where next_at <= now() and subscription = any($1::text[]) order by id limit ${batchSize}`
  const claim =
    engine.kind === 'pglite'
      ? due
      : `
    with due as (${due} for update skip locked)
    update mosaic_bus.deliveries d set next_at = now() + interval '${leaseSeconds} seconds' from due where d.id = due.id
    returning d.id, d.subscription, d.event, d.attempts`

  async function deliver(): Promise<number> {
    if (subscriptions.size === 0) return 0
    const rows = (await db.query<Row>(claim, [[...subscriptions.keys()]])).sort((a, b) => (a.id < b.id ? -1 : 1))
    const done: string[] = []
    try {
      // Subscriptions run side by side; each one's deliveries in order, as one batch.
      await Promise.all(
        [...Map.groupBy(rows, (r) => r.subscription)].map(([id, batch]) =>
          dispatch(subscriptions.get(id)!, batch, retry, log, {
            done: async (handled) => {
              for (const r of handled) done.push(String(r.id))
            },
            retry: async (r, attempts, delayMs, error) => {
              await db.query(
                'update mosaic_bus.deliveries set attempts = $2, next_at = now() + make_interval(secs => $3), last_error = $4 where id = $1',
                [r.id, attempts, delayMs / 1000, error],
              )
            },
            dead: async (r) => {
              done.push(String(r.id))
            },
          }),
        ),
      )
    } finally {
      // One delete for all that is settled rather than one per event: each consumer has committed
      // already, and should we crash first, its inbox absorbs the redelivery.
      if (done.length > 0) await db.query('delete from mosaic_bus.deliveries where id = any($1::bigint[])', [done])
    }
    return rows.length
  }

  let worker: Worker | undefined

  /** Queues `events` for every route that `select` keeps, in `tx`. */
  async function enqueue(events: readonly CloudEvent[], targets: readonly Route[], tx: Sql): Promise<void> {
    if (events.length === 0 || targets.length === 0) return
    await tx.query(
      `
      insert into mosaic_bus.deliveries (subscription, consumer, event)
      select r.id, r.consumer, e.event
      from jsonb_array_elements($1::text::jsonb) with ordinality as e(event, n)
      join unnest($2::text[], $3::text[], $4::text[]) as r(type, id, consumer) on r.type = e.event->>'type'
      order by e.n, r.id`,
      [JSON.stringify(events), targets.map((r) => r.type), targets.map((r) => r.id), targets.map((r) => r.consumer)],
    )
    if (targets.some((r) => subscriptions.has(r.id))) worker?.notify()
  }

  return {
    kind: 'embedded',
    get running() {
      return worker?.running ?? false
    },
    publish: (producer, events, tx) =>
      enqueue(
        events,
        routes.filter((r) => r.source === producer),
        tx,
      ),
    redeliver: (route, events, tx) => enqueue(events, [route], tx),
    async subscribe(subscription) {
      if (subscriptions.has(subscription.id)) throw new Error(`subscription ${subscription.id} registered twice`)
      subscriptions.set(subscription.id, subscription)
      // A subscriber this process runs is part of the graph, declared or not (tests add their own).
      if (!routes.some((r) => r.id === subscription.id)) routes.push(subscription)
      worker?.notify()
    },
    async start() {
      await migrate(engine, BUS_SCHEMA, [busMigrations])
      worker = startWorker({ name: 'event bus', log, pollMs, cycle: async () => (await deliver()) === batchSize })
    },
    stop: async () => {
      await worker?.stop()
    },
    async status() {
      const counts = await db.query<{ subscription: string; n: bigint; retrying: bigint; oldest: number }>(
        `
        select subscription, count(*) as n, count(*) filter (where attempts > 0) as retrying,
          extract(epoch from now() - min((event->>'time')::timestamptz))::float8 as oldest
        from mosaic_bus.deliveries where subscription = any($1::text[]) group by subscription`,
        [[...subscriptions.keys()]],
      )
      const zeros = (): Record<string, number> => Object.fromEntries([...subscriptions.keys()].map((id) => [id, 0]))
      const lag = zeros()
      const retrying = zeros()
      const oldestSeconds = zeros()
      for (const row of counts) {
        lag[row.subscription] = Number(row.n)
        retrying[row.subscription] = Number(row.retrying)
        oldestSeconds[row.subscription] = Math.max(0, row.oldest)
      }
      return { connected: true, lag, retrying, oldestSeconds }
    },
  }
}
