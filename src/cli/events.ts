import { loadConfig } from '../kit/config.ts'
import { createLogger } from '../kit/log.ts'
import { replayDeadLetters } from '../kit/events/replay.ts'
import { routesOf, schemaOf } from '../kit/internal/host.ts'
import { RuntimeConfig } from '../runtime/config.ts'
import { openServiceEngine } from '../runtime/node.ts'
import { createBus } from '../runtime/events.ts'
import { topology } from '../runtime/topology.ts'

/**
 * Sends a service's dead letters back to the subscriptions that failed them: onto the embedded bus
 * (delivered by the running system at its next poll) or into NATS. PGlite admits one process at a
 * time: with the embedded database, stop `mosaic start` first.
 */
export async function replayCommand(service: string, ids?: number[]): Promise<number> {
  const config = loadConfig(RuntimeConfig)
  const engine = await openServiceEngine(service)
  const routes = topology.flatMap((s) => routesOf(s.definition))
  const bus = await createBus({ config, engine, log: createLogger(), routes, name: `mosaic-cli-${process.pid}` })
  try {
    await bus.start()
    return await replayDeadLetters(engine, schemaOf(service), bus, routes, ids)
  } finally {
    await bus.stop()
    await engine.close()
  }
}
