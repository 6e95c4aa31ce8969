import { schemaOf } from '../kit/internal/host.ts'
import { openServiceEngine } from '../runtime/node.ts'
import { rebuildViews } from '../services/orders/views.ts'

/** The read models that can be rebuilt from their service's events, by service. */
export const projections: Readonly<Record<string, (tx: Parameters<typeof rebuildViews>[0]) => Promise<number>>> = {
  orders: rebuildViews,
}

/**
 * Drops a service's read model and replays its event streams into it, in one transaction (readers
 * see the old views until it commits). With the embedded database, stop `mosaic start` first.
 */
export async function rebuildProjection(service: string): Promise<number> {
  const rebuild = projections[service]
  if (!rebuild) throw new Error(`${service} has no projection to rebuild`)
  const engine = await openServiceEngine(service)
  try {
    return await engine.forSchema(schemaOf(service)).transaction(rebuild)
  } finally {
    await engine.close()
  }
}
