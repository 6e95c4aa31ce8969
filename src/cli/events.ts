import { loadConfig } from '../kit/config.ts'
import { openPglite } from '../kit/db/pglite.ts'
import { openPostgres } from '../kit/db/postgres.ts'
import { createLocalBus } from '../kit/events/local-bus.ts'
import { createLogger } from '../kit/log.ts'
import { schemaOf } from '../kit/internal/host.ts'
import { RuntimeConfig } from '../runtime/config.ts'
import { resolve } from 'node:path'

/** Moves dead letters back onto the embedded bus; the running system delivers them at its next poll. */
export async function replayDeadLetters(service: string, ids?: number[]): Promise<number> {
  const config = loadConfig(RuntimeConfig)
  const engine = config.DATABASE_URL ? openPostgres(config.DATABASE_URL) : await openPglite(resolve(config.DATA_DIR, 'embedded'))
  try {
    return await createLocalBus({ engine, log: createLogger() }).replay(schemaOf(service), ids)
  } finally {
    await engine.close()
  }
}
