// Calls to a service with several instances in other processes: balanced across them, a hanging
// instance cut off by its breaker and taken back once it recovers, retries held to their budget.
// The replicas are real `mosaic serve catalog` processes; the caller is a node in this process
// with the catalog remote (CATALOG_SERVICE_URL with both replicas).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, spawnNode, spawnNodes, type Child } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { defineContract, defineService, MosaicError } from '../../src/kit/index.ts'
import { catalogContract } from '../../src/services/catalog/contract.ts'
import catalog from '../../src/services/catalog/service.ts'
import { natsNamespace } from '../infra.ts'

const probeContract = defineContract({ name: 'probe', version: '0', routes: {}, actions: {}, events: {} })
const probe = defineService(probeContract, { routes: {}, actions: {} })

let replicas: Child[] = []
let dataDir: string
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mosaic-calls-'))
  const namespace = natsNamespace({ after: (fn) => after(fn) })
  // Each replica its own PGlite with the demo catalog: the same products, which is all these tests read.
  replicas = await spawnNodes(
    [0, 1].map((i) =>
      spawnNode(
        [cli, 'serve', 'catalog'],
        {
          CATALOG_SERVICE_PORT: '0',
          DATA_DIR: join(dataDir, String(i)),
          LOG_LEVEL: 'info',
          LOG_PRETTY: 'false',
          MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
          // Alone on its PGlite, catalog keeps its events (analytics subscribes) on NATS; calls go to static URLs.
          BUS: 'nats',
          NATS_NAMESPACE: namespace,
          DISCOVERY: 'static',
        },
        120_000,
      ),
    ),
  )
})
after(async () => {
  for (const replica of replicas) await replica.kill('SIGKILL')
  await rm(dataDir, { recursive: true, force: true })
})

/**
 * A node running `probe` here, with the catalog at `urls`; `env` tunes the policies. Readiness
 * probes are left out (one a few minutes): these tests are about what calls do.
 */
function caller(urls: string[], env: Record<string, string> = {}): Promise<MosaicNode> {
  return startNode({
    role: 'gateway',
    services: [catalog, probe],
    port: 0,
    env: {
      CATALOG_SERVICE_URL: urls.join(','),
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      DATA_DIR: ':memory:',
      LOG_LEVEL: 'silent',
      CATALOG_CALLS_PROBE_MS: '600000',
      ...env,
    },
  })
}
const catalogOf = (node: MosaicNode) => node.services.get('probe')!.context.client(catalogContract)

/** How many requests an instance has served on a route, from its own /metrics. */
async function served(metricsUrl: string, route: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('http_server_request_duration_seconds_count{') && line.includes(`http_route="${route}"`))
      sum += Number(line.split(' ').pop())
  }
  return sum
}
const ACTIONS = '/_mosaic/actions/:action'

async function metric(node: MosaicNode, name: string, match: string): Promise<number> {
  const text = await (await fetch(node.metricsUrl!)).text()
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(match))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
}

test('calls and proxied requests are spread over the replicas (round-robin: evenly)', async () => {
  const node = await caller(
    replicas.map((r) => r.url),
    { CATALOG_CALLS_BALANCER: 'round-robin' },
  )
  try {
    const before = await Promise.all(replicas.map((r) => served(r.metricsUrl, ACTIONS)))
    for (let i = 0; i < 20; i++)
      assert.equal((await catalogOf(node).getProducts({ ids: ['prod-mouse'] })).items[0]!.id, 'prod-mouse')
    const after = await Promise.all(replicas.map((r) => served(r.metricsUrl, ACTIONS)))
    assert.deepEqual(
      after.map((n, i) => n - before[i]!),
      [10, 10],
    )

    const proxiedBefore = await Promise.all(replicas.map((r) => served(r.metricsUrl, '/api/products/:id')))
    for (let i = 0; i < 10; i++) assert.equal((await fetch(new URL('/api/products/prod-mouse', node.url))).status, 200)
    const proxiedAfter = await Promise.all(replicas.map((r) => served(r.metricsUrl, '/api/products/:id')))
    assert.deepEqual(
      proxiedAfter.map((n, i) => n - proxiedBefore[i]!),
      [5, 5],
    )
  } finally {
    await node.stop()
  }
})

test('a hanging replica: its breaker opens, calls fail within their deadline and then go to the other; it closes after recovery', async () => {
  const [healthy, hanging] = replicas as [Child, Child]
  const node = await caller([healthy.url, hanging.url], {
    CATALOG_CALLS_BALANCER: 'round-robin',
    CATALOG_CALLS_BREAKER_HALF_OPEN_MS: '1500',
    CATALOG_CALLS_RETRIES: '0',
  })
  const instance = `instance="${hanging.url}"`
  try {
    hanging.process.kill('SIGSTOP')
    // Ten at once, round-robin: five land on the hanging replica and time out, which opens its breaker.
    const started = performance.now()
    const first = await Promise.allSettled(
      Array.from({ length: 10 }, () => catalogOf(node).getProducts({ ids: ['prod-mouse'] }, { timeoutMs: 1_500 })),
    )
    assert.ok(performance.now() - started < 2_500, 'callers were not held past their deadline')
    const failed = first.filter((r) => r.status === 'rejected')
    assert.equal(failed.length, 5)
    for (const f of failed)
      assert.ok(
        (f as PromiseRejectedResult).reason instanceof MosaicError &&
          (f as PromiseRejectedResult).reason.code === 'deadline_exceeded',
      )
    assert.equal(await metric(node, 'mosaic_circuit_breaker_state', instance), 1, 'open')

    // While it is open, every call goes to the healthy replica, and other routes answer.
    const during = await Promise.allSettled(
      Array.from({ length: 10 }, () => catalogOf(node).getProducts({ ids: ['prod-mouse'] }, { timeoutMs: 5_000 })),
    )
    assert.equal(during.filter((r) => r.status === 'rejected').length, 0)
    assert.equal((await fetch(new URL('/api/products/prod-mouse', node.url))).status, 200)
    const ready = (await (await fetch(new URL('/health/ready', node.url))).json()) as {
      status: string
      output: string
      checks: Record<string, { instances: { url: string; breaker: string }[] }[]>
    }
    assert.equal(ready.status, 'warn')
    assert.equal(ready.output, 'degraded')
    assert.equal(ready.checks['calls:catalog']![0]!.instances.find((i) => i.url === hanging.url)!.breaker, 'open')

    hanging.process.kill('SIGCONT')
    await sleep(1_600)
    const servedBefore = await served(hanging.metricsUrl, ACTIONS)
    for (let i = 0; i < 8; i++) await catalogOf(node).getProducts({ ids: ['prod-mouse'] }, { timeoutMs: 2_000 })
    assert.ok((await served(hanging.metricsUrl, ACTIONS)) > servedBefore, 'the recovered replica is called again')
    assert.equal(await metric(node, 'mosaic_circuit_breaker_state', instance), 0, 'closed')
    // Each transition once, however many calls the open breaker turned away.
    assert.equal(await metric(node, 'mosaic_circuit_breaker_transitions_total', `${instance},state="open"`), 1)
    assert.equal(await metric(node, 'mosaic_circuit_breaker_transitions_total', `${instance},state="closed"`), 1)
  } finally {
    hanging.process.kill('SIGCONT')
    await node.stop()
  }
})

test('retry budget: with half the attempts failing, retries add at most 20 % to the calls', async () => {
  // The second "replica" refuses connections; its breaker is kept closed so it keeps failing.
  const dead = 'http://127.0.0.1:9'
  const node = await caller([replicas[0]!.url, dead], {
    CATALOG_CALLS_BALANCER: 'round-robin',
    CATALOG_CALLS_BREAKER_FAILURES: '100000',
    CATALOG_CALLS_BACKOFF_MIN_MS: '1',
    CATALOG_CALLS_BACKOFF_MAX_MS: '2',
  })
  try {
    const attemptsBefore = await metric(node, 'mosaic_rpc_client_attempts_total', 'rpc_service="catalog"')
    const calls = 200
    let failures = 0
    for (let i = 0; i < calls; i++) {
      await catalogOf(node)
        .getProducts({ ids: ['prod-mouse'] })
        .catch((error: unknown) => {
          assert.ok(error instanceof MosaicError && error.code === 'unavailable' && error.retryable)
          failures++
        })
    }
    const attempts = (await metric(node, 'mosaic_rpc_client_attempts_total', 'rpc_service="catalog"')) - attemptsBefore
    assert.ok(attempts <= calls * 1.2, `${attempts} attempts for ${calls} calls`)
    assert.ok(attempts >= calls * 1.15, `the budget was used: ${attempts} attempts`)
    assert.ok(failures > 0 && failures < calls / 2, `retries saved some calls, not all: ${failures} failed`)
  } finally {
    await node.stop()
  }
})
