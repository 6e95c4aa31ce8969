// Discovery through NATS KV, with real processes: a gateway alone (`mosaic serve gateway`) finds
// catalog replicas as they start, stops choosing one the moment it says it is draining, and
// loses no request while every replica is restarted in turn under load.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { cli, spawnNode, spawnNodes, type Child } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { natsNamespace } from '../infra.ts'

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const bucket = `mosaic_test_${randomUUID().slice(0, 8)}`
const env = {
  DISCOVERY: 'nats',
  BUS: 'nats',
  NATS_NAMESPACE: natsNamespace({ after: (fn) => after(fn) }),
  NATS_URL,
  DISCOVERY_BUCKET: bucket,
  // Long enough for the draining replica to be seen, let finish and watched for half a second on a busy machine.
  DRAIN_GRACE_MS: '3000',
  RATE_LIMIT_MAX: '1000000',
  MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
  LOG_LEVEL: 'info',
  LOG_PRETTY: 'false',
}
const children: Child[] = []
const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-discovery-'))
after(async () => {
  for (const child of children) await child.kill('SIGKILL')
  await rm(dataDir, { recursive: true, force: true })
  const nc = await connect({ servers: NATS_URL })
  await (await new Kvm(nc).open(bucket)).destroy().catch(() => {})
  await nc.close()
})

let replicaCount = 0
async function replica(): Promise<Child> {
  const child = await spawnNode(
    [cli, 'serve', 'catalog'],
    { ...env, CATALOG_SERVICE_PORT: '0', DATA_DIR: join(dataDir, `catalog-${replicaCount++}`) },
    120_000,
  )
  children.push(child)
  return child
}

interface Instance {
  url: string
  draining: boolean
  breaker: string
}
async function catalogInstances(gateway: Child): Promise<Instance[]> {
  const ready = (await (await fetch(new URL('/health/ready', gateway.url))).json()) as {
    checks: Record<string, { instances?: Instance[] }[]>
  }
  return ready.checks['calls:catalog']?.[0]?.instances ?? []
}
async function until(what: string, condition: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await sleep(50)
  }
}
async function served(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text()
  return text
    .split('\n')
    .filter(
      (l) =>
        l.startsWith('http_server_request_duration_seconds_count{') && l.includes('http_route="/api/products/:id"'),
    )
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
}

test('replicas found through NATS KV: a draining one gets no new requests, and a rolling restart under load loses none', async () => {
  const gateway = await spawnNode(
    [cli, 'serve', 'gateway'],
    { ...env, PORT: '0', DATA_DIR: join(dataDir, 'gateway') },
    120_000,
  )
  children.push(gateway)
  let [a, b] = (await spawnNodes([replica(), replica()])) as [Child, Child]
  const live = async (n: number) => (await catalogInstances(gateway)).filter((i) => !i.draining).length === n
  await until('the gateway sees both replicas', () => live(2))

  // Load: eight clients reading through the gateway until told to stop.
  const statuses = new Map<number, number>()
  let running = true
  const clients = Array.from({ length: 8 }, async () => {
    while (running) {
      const res = await fetch(new URL('/api/products/prod-mouse', gateway.url)).catch(() => undefined)
      await res?.arrayBuffer()
      statuses.set(res?.status ?? 0, (statuses.get(res?.status ?? 0) ?? 0) + 1)
    }
  })
  try {
    await sleep(500)

    // Draining: once the gateway has heard it, the replica (still serving its grace period) gets nothing new.
    const aExit = a.kill('SIGTERM')
    await until('the gateway sees the replica draining', async () =>
      (await catalogInstances(gateway)).some((i) => i.url === a.url && i.draining),
    )
    // A request the gateway sent just before it heard is still answered (and counted) after:
    // let those finish before counting.
    await sleep(250)
    const atDrain = await served(a.metricsUrl)
    await sleep(500)
    assert.equal(await served(a.metricsUrl), atDrain, 'no request reached the draining replica')
    assert.equal(await aExit, 0)

    // Rolling restart: a new replica in, the other one out.
    a = await replica()
    await until('the new replica is in rotation', () => live(2))
    await sleep(300)
    assert.equal(await b.kill('SIGTERM'), 0)
    b = await replica()
    await until('the second new replica is in rotation', () => live(2))
    await sleep(500)
  } finally {
    running = false
    await Promise.all(clients)
  }

  const total = [...statuses.values()].reduce((x, y) => x + y, 0)
  assert.deepEqual(
    [...statuses.keys()],
    [200],
    `every request answered 200: ${JSON.stringify(Object.fromEntries(statuses))}`,
  )
  assert.ok(total > 100, `load ran: ${total} requests`)
  assert.ok((await served(a.metricsUrl)) > 0 && (await served(b.metricsUrl)) > 0, 'the new replicas took requests')
})
