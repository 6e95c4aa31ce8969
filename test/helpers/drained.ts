// "Nothing more will happen": the state a test waits for before asserting that something did
// not happen (a second mail, a second invoice), instead of sleeping for a guessed while.
import { schemaOf } from '../../src/kit/internal/host.ts'
import type { MosaicNode } from '../../src/runtime/node.ts'
import { eventually } from './wait.ts'

/**
 * Waits until the node's event flow is at rest: every service's outbox is empty and the bus has
 * nothing waiting for any subscription of the node (a delivery stays until its handler has
 * committed, and one waiting to be retried stays too), whichever bus it is, and each of `busy`
 * (SQL on the node's database naming work still in flight, such as queued mails) returns no row.
 * Only then can a test assert that nothing more arrived.
 */
export async function drained(
  node: Pick<MosaicNode, 'engine' | 'engineOf' | 'services' | 'bus'>,
  busy: readonly string[] = [],
  timeoutMs = 20_000,
): Promise<void> {
  await eventually(
    'the outboxes, the bus and the work in flight to drain',
    async () => {
      for (const service of node.services.keys()) {
        if (
          (await node.engineOf(service).admin.query(`select 1 from ${schemaOf(service)}.mosaic_outbox limit 1`))
            .length > 0
        )
          return false
      }
      if (Object.values((await node.bus.status()).lag).some((n) => n > 0)) return false
      for (const sql of busy) if ((await node.engine.admin.query(sql)).length > 0) return false
      return true
    },
    timeoutMs,
  )
}

/** Mails still queued (due, waiting to be retried, or being sent under a lease). */
export const mailsInFlight = `select 1 from notifications.notifications where status = 'queued' limit 1`
