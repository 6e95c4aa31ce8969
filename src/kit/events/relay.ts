// A producing service's outbox relay: reads the events its transactions committed, in order, hands
// them to the bus, and deletes them in the same transaction once the bus holds them (the broker has
// acknowledged them, or the embedded bus queued them in this very transaction). A crash before the
// commit leaves the rows to be sent again: the broker drops the repeat within its duplicate window
// (the message id is the event id), and consumers' inboxes absorb it after that. Replicas of a
// service share one outbox; a transaction-scoped advisory lock lets one relay at a time, which keeps
// the service's events in order on the bus.
import type { Logger } from 'pino'
import type { CloudEvent } from '../contract.ts'
import type { Engine } from '../db/database.ts'
import { ident } from '../db/database.ts'
import { eventsPublished, messagingSystem } from '../telemetry/metrics.ts'
import type { Bus } from './bus.ts'
import { startWorker, type Worker } from '../worker.ts'

export interface RelayOptions {
  /** The producing service, and the schema its outbox is in. */
  readonly service: string
  readonly schema: string
  readonly engine: Engine
  readonly bus: Bus
  readonly log: Logger
  readonly pollMs: number
  readonly batchSize?: number
}

/** Starts relaying at once: its first cycle sends what the last run of the service left. */
export function startRelay(options: RelayOptions): Worker {
  const { service, engine, bus, batchSize = 500 } = options
  const outbox = `${ident(options.schema)}.mosaic_outbox`
  const lockKey = `mosaic-relay:${options.schema}`

  async function relay(nudged: boolean): Promise<number> {
    // Most polls find nothing (a service that published nothing): one statement says so, where the
    // transaction below costs three round trips. A cycle nudged by a commit that published has
    // events to send: it goes straight to the transaction.
    if (!nudged && (await engine.admin.query(`select 1 from ${outbox} limit 1`)).length === 0) return 0
    const events = await engine.admin.transaction(async (tx) => {
      // The events leave the outbox in the statement that reads them, and only once this relay holds
      // the lock (an uncorrelated subquery: taken once, before any row goes). The delete commits
      // only if the bus takes them (else the transaction rolls back, and they stay to be sent
      // again). A row another relay took since this statement began is skipped by the delete (it
      // is gone by then), so none is sent twice. PGlite is one process: no lock.
      const rows = await tx.query<{ seq: bigint; event: CloudEvent }>(
        `with moved as (
          delete from ${outbox} where seq in (select seq from ${outbox} order by seq limit ${batchSize})
          ${engine.kind === 'postgres' ? 'and (select pg_try_advisory_xact_lock(hashtext($1)))' : ''}
          returning seq, event)
        select seq, event from moved order by seq`,
        engine.kind === 'postgres' ? [lockKey] : [],
      )
      if (rows.length === 0) return [] // none, or another replica is relaying; the next poll looks again
      const events = rows.map((r) => r.event)
      await bus.publish(service, events, tx)
      return events
    })
    for (const [type, batch] of Map.groupBy(events, (e) => e.type)) {
      eventsPublished.inc(
        { service, messaging_destination_name: type, messaging_system: messagingSystem(bus) },
        batch.length,
      )
    }
    return events.length
  }

  return startWorker({
    name: `${service} outbox relay`,
    log: options.log,
    pollMs: options.pollMs,
    cycle: async (nudged) => (await relay(nudged)) === batchSize,
  })
}
