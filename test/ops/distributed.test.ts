// The operator API across processes: a gateway in this process with every service remote, found
// through NATS KV — identity, two catalog replicas, and the pulse/tally fixtures each in a process
// of its own on NATS JetStream. The console's views gather from every process: instances with
// their health and the gateway's breakers (a killed replica's opens, then it leaves), a trace
// joined from the gateway's spans and a replica's, and a remote consumer's dead letters replayed
// over HTTP once it is fixed. The killed replica is watched on the console in Chromium too.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { cli, spawnNode, spawnNodes, type Child } from '../process.ts'
import { ADMIN_EMAIL, ADMIN_PASSWORD, INTERNAL_SECRET, adminEnv, login, testEnv } from '../auth.ts'
import { launchBrowser, openPage, checkPage } from '../web/browser.ts'
import { signIn } from '../web/sign-in.ts'
import { NATS_URL, natsNamespace } from '../infra.ts'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import { pulseSystem } from '../fixtures/pulse.ts'
import { fixtureRoutes } from '../fixtures/routes.ts'
import { call } from '../helpers/http.ts'
import { eventually } from '../helpers/wait.ts'

const bucket = `mosaic_test_${randomUUID().slice(0, 8)}`
const run = `r${randomUUID().slice(0, 8)}`
const env = {
  BUS: 'nats',
  DISCOVERY: 'nats',
  NATS_URL,
  NATS_NAMESPACE: natsNamespace({ after: (fn) => after(fn) }),
  DISCOVERY_BUCKET: bucket,
  DISCOVERY_TTL_MS: '4000',
  MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
  EVENT_MAX_ATTEMPTS: '2',
  EVENT_RETRY_BASE_MS: '20',
  NATS_ACK_WAIT_SECONDS: '5',
  RATE_LIMIT_MAX: '1000000',
  LOG_LEVEL: 'info',
  LOG_PRETTY: 'false',
  ...adminEnv,
}
const fixtureNode = join(import.meta.dirname, '..', 'fixtures', 'bus-node.ts')
let dataDir: string
const children: Child[] = []
let gateway: MosaicNode
let token: string

/** `dir`: the process's data directory under the test's (a restart passes the same one: its PGlite, its dead letters). */
const serve = async (
  name: string,
  extra: Record<string, string> = {},
  dir = join(dataDir, `${name}-${randomUUID().slice(0, 6)}`),
): Promise<Child> => {
  const child = ['pulse', 'tally'].includes(name)
    ? await spawnNode([fixtureNode, name], { ...env, DATA_DIR: dir, ...extra }, 120_000)
    : await spawnNode(
        [cli, 'serve', name],
        { ...env, [`${name.toUpperCase()}_SERVICE_PORT`]: '0', DATA_DIR: dir, ...extra },
        120_000,
      )
  children.push(child)
  return child
}

let replicas: Child[]
let tally: Child
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mosaic-ops-'))
  const started = await spawnNodes([
    serve('identity'),
    serve('catalog'),
    serve('catalog'),
    serve('pulse'),
    serve('tally', { TALLY_FAIL_RUN: run }, join(dataDir, 'tally')),
  ])
  replicas = started.slice(1, 3)
  tally = started[4]!
  gateway = await startNode({
    role: 'gateway',
    services: [identity, catalog, ...pulseSystem],
    system: [identity, catalog, ...pulseSystem],
    allRemote: true,
    port: 0,
    env: testEnv({ ...env, LOG_LEVEL: 'silent', GATEWAY_ROUTES: fixtureRoutes }),
  })
  token = (await login(gateway.url)).accessToken
})
after(async () => {
  await gateway?.stop()
  for (const child of children) await child.kill('SIGKILL')
  await rm(dataDir, { recursive: true, force: true })
  const nc = await connect({ servers: NATS_URL })
  await (await new Kvm(nc).open(bucket)).destroy().catch(() => {})
  await nc.close()
})

interface Instance {
  id: string
  url: string
  embedded: boolean
  health: string
  draining: boolean
  breaker: string | null
}
const ops = <T>(method: string, path: string, json?: unknown) =>
  call<T>(gateway, method, `/api/ops${path}`, { token, ...(json === undefined ? {} : { json }) })
const instancesOf = async (service: string): Promise<Instance[]> => {
  const reply = await ops<{ services: { name: string; instances: Instance[] }[] }>('GET', '/services')
  assert.equal(reply.status, 200, reply.text)
  return reply.body.services.find((s) => s.name === service)?.instances ?? []
}

test('a trace is joined from the spans the gateway and a remote replica keep', { timeout: 60_000 }, async () => {
  const read = await fetch(new URL('/api/products/prod-mouse', gateway.url))
  assert.equal(read.status, 200)
  const traceId = /^00-([0-9a-f]{32})-/.exec(read.headers.get('traceresponse') ?? '')?.[1]
  assert.ok(traceId, 'the gateway answers with its trace')
  const trace = await eventually(
    "the replica's spans in the trace",
    async () => {
      const reply = await ops<{ spans: { service: string; name: string; parentSpanId?: string; spanId: string }[] }>(
        'GET',
        `/traces/${traceId}`,
      )
      return reply.status === 200 && reply.body.spans.some((s) => s.service === 'catalog') && reply.body
    },
    10_000,
  )
  const services = new Set(trace.spans.map((s) => s.service))
  assert.ok(services.has('gateway') && services.has('catalog'), [...services].join(', '))
  const ids = new Set(trace.spans.map((s) => s.spanId))
  const catalogRoot = trace.spans.find((s) => s.service === 'catalog' && s.parentSpanId && ids.has(s.parentSpanId))
  assert.ok(catalogRoot, "the replica's server span hangs under the gateway's proxy span")
})

test('a remote consumer dead-letters; fixed and replayed from the console, each event takes effect once', {
  timeout: 180_000,
}, async () => {
  const emitted = await call(gateway, 'POST', '/api/pulse', { json: { run, count: 3 } })
  assert.equal(emitted.status, 200, emitted.text)
  interface Bus {
    kind: string
    subscriptions: { id: string }[]
    deadLetters: { service: string; count: number }[]
    letters: { service: string; error: string }[]
  }
  const dead = await eventually(
    'three dead letters in the tally process',
    async () => {
      const reply = await ops<Bus>('GET', '/bus')
      assert.equal(reply.status, 200, reply.text)
      return reply.body.deadLetters.find((d) => d.service === 'tally')?.count === 3 && reply.body
    },
    60_000,
  )
  assert.equal(dead.kind, 'nats')
  assert.ok(dead.subscriptions.some((s) => s.id.startsWith('tally/')))
  assert.ok(dead.letters.every((l) => l.service !== 'tally' || /told to fail run/.test(l.error)))

  // The consumer fixed: a new process without the fault takes over the durable consumer.
  await tally.kill('SIGTERM')
  tally = await serve('tally', {}, join(dataDir, 'tally'))
  const replayed = await eventually(
    'the fixed tally process answers the replay',
    async () => {
      const reply = await ops<{ replayed: number }>('POST', '/bus/replay', { service: 'tally' })
      return reply.status === 200 && reply.body
    },
    30_000,
  )
  assert.equal(replayed.replayed, 3)
  const tallied = await eventually(
    'the replayed events handled',
    async () => {
      const reply = await call<{ total: number; events: number }>(gateway, 'GET', `/api/tally?run=${run}`)
      return reply.body.total === 3 && reply.body
    },
    30_000,
  )
  assert.deepEqual(tallied, { total: 3, events: 3 })
  const after = await ops<Bus>('GET', '/bus')
  assert.equal(after.body.deadLetters.find((d) => d.service === 'tally')?.count, 0)
})

test('services: both replicas with their health; a killed one has its breaker opened, then leaves, in the API and on the console', {
  timeout: 150_000,
}, async (t) => {
  const both = await eventually(
    'both catalog replicas listed, healthy',
    async () => {
      const list = await instancesOf('catalog')
      return list.length === 2 && list.every((i) => i.health === 'pass') && list
    },
    15_000,
  )
  for (const i of both) {
    assert.equal(i.embedded, false)
    assert.equal(i.breaker, 'closed')
    assert.equal(i.draining, false)
  }
  assert.deepEqual(both.map((i) => i.url).sort(), replicas.map((r) => r.url).sort())
  assert.equal((await instancesOf('identity')).length, 1)

  // The console, as an operator watches it: its services section polls by itself.
  const browser = await launchBrowser(t)
  const operator = await openPage(browser, gateway.url)
  await signIn(operator, ADMIN_EMAIL, ADMIN_PASSWORD)
  await operator.page.goto('/console')
  const rowOf = (url: string) => operator.page.locator('#services tbody tr', { hasText: url })
  for (const r of replicas) await rowOf(r.url).locator('.breaker-closed').waitFor()

  const [victim] = replicas as [Child]
  await victim.kill('SIGKILL')
  // Reads keep coming; those sent to the dead replica open its breaker. (A read in flight on it
  // when it died may fail with a 502: the proxy does not resend what it sent to a dead process.)
  let reading = true
  const reads = (async () => {
    while (reading) await (await fetch(new URL('/api/products/prod-mouse', gateway.url))).arrayBuffer()
  })()
  try {
    const seen = await eventually(
      "the dead replica's breaker open",
      async () => (await instancesOf('catalog')).find((i) => i.url === victim.url && i.breaker === 'open'),
      15_000,
    )
    assert.equal(seen.health, 'unreachable')
    await rowOf(victim.url).locator('.breaker-open').waitFor({ timeout: 15_000 })
    await checkPage(operator, 'console-replica-down')
  } finally {
    reading = false
    await reads
  }
  for (let i = 0; i < 20; i++)
    assert.equal(
      (await fetch(new URL('/api/products/prod-mouse', gateway.url))).status,
      200,
      'the other replica answers',
    )
  await eventually(
    'the dead replica gone from the list',
    async () => {
      const list = await instancesOf('catalog')
      return list.length === 1 && list[0]!.url !== victim.url
    },
    20_000,
  )
  await rowOf(victim.url).waitFor({ state: 'detached', timeout: 15_000 })
  assert.equal(await rowOf(replicas[1]!.url).count(), 1, 'the other replica still listed')
})
