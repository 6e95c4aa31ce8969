// The parity scenario against the distributed system: every service in a process of its own
// (`mosaic serve`), catalog and orders in two replicas each (sharing their service's database and
// NATS durable consumers), each service on a fresh PostgreSQL database of its own, events over NATS
// JetStream in a namespace of the run's own, and a gateway (`mosaic start` with every
// <NAME>_SERVICE_URL set) that runs no service itself: it proxies, and asks identity over HTTP.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, spawnNode, type Child } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { defer, freshDatabase, natsNamespace } from '../infra.ts'
import { topology } from '../../src/runtime/topology.ts'
import { envPrefix } from '../../src/kit/config.ts'
import { scenario, type Cleanup } from './scenario.ts'

/**
 * In the order they can start: each after the services it calls (catalog asks files about product
 * images; orders calls catalog and payments), so it is given their URLs. Replicas: how many processes.
 */
const waves: readonly (readonly [service: string, replicas: number][])[] = [
  [['identity', 1], ['payments', 1], ['notifications', 1], ['analytics', 1], ['files', 1]],
  [['catalog', 2]],
  [['orders', 2]],
]

scenario('distributed: a process per service, PostgreSQL databases of their own, NATS JetStream', async (cleanup, env) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-parity-'))
  defer(cleanup, () => rm(dataDir, { recursive: true, force: true }))
  const names = topology.map((s) => s.definition.contract.name as string)
  const databases = Object.fromEntries(await Promise.all(names.map(async (name) =>
    [`${envPrefix(name)}_DATABASE_URL`, await freshDatabase(cleanup, `mosaic_parity_${name}`)] as const)))
  const common: Record<string, string> = {
    ...env, ...databases, BUS: 'nats', NATS_NAMESPACE: natsNamespace(cleanup), MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
    HOST: '127.0.0.1', LOG_LEVEL: 'info', LOG_PRETTY: 'false', DATA_DIR: dataDir,
  }
  /** <NAME>_SERVICE_URL of every service started so far: the first replica's. */
  const urls: Record<string, string> = {}
  for (const wave of waves) {
    const started = await all(wave.flatMap(([name, replicas]) => Array.from({ length: replicas }, () =>
      spawn(cleanup, [cli, 'serve', name], { ...common, ...urls, [`${envPrefix(name)}_SERVICE_PORT`]: '0' }))))
    let at = 0
    for (const [name, replicas] of wave) {
      urls[`${envPrefix(name)}_SERVICE_URL`] = started[at]!.url
      at += replicas
    }
  }
  const gateway = await spawn(cleanup, [cli, 'start'], { ...common, ...urls, PORT: '0' })
  return gateway.url
})

/** Starts a process, stopped when the suite ends. */
async function spawn(cleanup: Cleanup, args: string[], env: Record<string, string>): Promise<Child> {
  const child = await spawnNode(args, env, 60_000)
  defer(cleanup, () => child.kill('SIGKILL'))
  return child
}

/** Like Promise.all, but waits for every start to end first, so that none is left running unseen when another fails. */
async function all<T>(starting: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(starting)
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value)
}
