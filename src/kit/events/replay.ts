import type { CloudEvent } from '../contract.ts'
import type { Engine } from '../db/database.ts'
import { ident } from '../db/database.ts'
import type { Bus, Route } from './bus.ts'

/**
 * Sends a consumer's dead letters (all, or the given ids) back to the subscriptions that failed
 * them, and only to those; returns how many. The rows leave the consumer's dead letters in the
 * transaction that hands them to the bus, so a replay is neither lost nor repeated.
 */
export async function replayDeadLetters(
  engine: Engine,
  schema: string,
  bus: Bus,
  routes: readonly Route[],
  ids?: readonly number[],
): Promise<number> {
  return engine.admin.transaction(async (tx) => {
    const rows = await tx.query<{ subscription: string; event: CloudEvent }>(
      `delete from ${ident(schema)}.mosaic_dead_letters where $1::bigint[] is null or id = any($1::bigint[]) returning subscription, event`,
      [ids ? ids.map(String) : null],
    )
    for (const [id, batch] of Map.groupBy(rows, (r) => r.subscription)) {
      const route = routes.find((r) => r.id === id)
      if (!route) throw new Error(`dead letters of ${id}, which is no subscription of this system any more`)
      await bus.redeliver(
        route,
        batch.map((r) => r.event),
        tx,
      )
    }
    return rows.length
  })
}
