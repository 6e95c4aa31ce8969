import { loadConfig } from '../kit/config.ts'
import { createLocalBus } from '../kit/events/local-bus.ts'
import { createLogger } from '../kit/log.ts'
import { schemaOf } from '../kit/internal/host.ts'
import { RuntimeConfig } from '../runtime/config.ts'
import { openEngine } from '../runtime/node.ts'

/**
 * Moves dead letters back onto the embedded bus, delivered by the system at its next poll.
 * PGlite admits one process at a time: with the embedded database, stop `mosaic start` first.
 */
export async function replayDeadLetters(service: string, ids?: number[]): Promise<number> {
  const engine = await openEngine(loadConfig(RuntimeConfig), 'embedded')
  try {
    return await createLocalBus({ engine, log: createLogger() }).replay(schemaOf(service), ids)
  } finally {
    await engine.close()
  }
}
