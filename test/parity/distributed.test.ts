// The parity scenario against the distributed system: every service in a process of its own
// (`mosaic serve`), each on a fresh PostgreSQL database of its own, events over NATS JetStream in a
// namespace of the run's own, and a gateway (`mosaic start` with every <NAME>_SERVICE_URL set) that
// runs no service itself: it proxies, and asks identity over HTTP. Catalog and orders run two
// replicas each, sharing their service's database and outbox (one relays at a time); the orders
// replicas share the checkout sagas (leased), and call the catalog replica the gateway does not.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, spawnNode, type Child } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { defer, freshDatabase, natsNamespace } from '../infra.ts'
import { topology } from '../../src/runtime/topology.ts'
import { envPrefix } from '../../src/kit/config.ts'
import { scenario, type Cleanup } from './scenario.ts'

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
  /** <NAME>_SERVICE_URL of every service started so far, given to each process started after it. */
  const urls: Record<string, string> = {}
  const serve = (name: string, extra: Record<string, string> = {}): Promise<Child> =>
    spawn(cleanup, [cli, 'serve', name], { ...common, ...urls, ...extra, [`${envPrefix(name)}_SERVICE_PORT`]: '0' })

  // Each service after those it calls, so that it is given their URLs (catalog asks files about
  // product images; orders calls catalog and payments; the gateway, identity); each group at once.
  const leaves = ['identity', 'payments', 'notifications', 'analytics', 'files']
  const started = await all(leaves.map((name) => serve(name)))
  leaves.forEach((name, i) => { urls[`${envPrefix(name)}_SERVICE_URL`] = started[i]!.url })
  const catalogs = await all([serve('catalog'), serve('catalog')])
  // The gateway calls the first catalog replica, the orders replicas the second: both serve, on one database.
  const orders = await all([serve('orders', { CATALOG_SERVICE_URL: catalogs[1]!.url }), serve('orders', { CATALOG_SERVICE_URL: catalogs[1]!.url })])
  Object.assign(urls, { CATALOG_SERVICE_URL: catalogs[0]!.url, ORDERS_SERVICE_URL: orders[0]!.url })
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
