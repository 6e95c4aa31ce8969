// The parity scenario against the embedded system: one `mosaic start` process running the gateway
// and every service on PGlite, with the in-process durable bus.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, spawnNode } from '../process.ts'
import { defer } from '../infra.ts'
import { scenario } from './scenario.ts'

scenario('embedded: one process, PGlite, the in-process bus', async (cleanup, env) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-parity-'))
  defer(cleanup, () => rm(dataDir, { recursive: true, force: true }))
  const system = await spawnNode(
    [cli, 'start'],
    { ...env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', LOG_PRETTY: 'false' },
    60_000,
  )
  defer(cleanup, () => system.kill('SIGTERM'))
  return system.url
})
