// The NATS JetStream bus in one process, against the real broker: a relay that dies after the
// broker's acknowledgement but before its outbox row is deleted sends the event again, and it still
// has one effect (the broker drops it within its duplicate window, the inbox after it); failures are
// retried, dead-lettered into the consumer's own database and replayed to that consumer alone; a
// broker that goes away shows in readiness.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { createNatsBus, durableOf, streamOf } from '../../src/kit/events/nats-bus.ts'
import { pino } from 'pino'
import { pulseSystem } from '../fixtures/pulse.ts'
import { fixtureRoutes } from '../fixtures/routes.ts'
import { testEnv } from '../auth.ts'
import { drained } from '../helpers/drained.ts'
import { eventually, sleep } from '../helpers/wait.ts'
import { defer, freshDatabase, natsNamespace, privateNats, NATS_URL } from '../infra.ts'

async function natsNode(t: TestContext, env: Record<string, string>): Promise<MosaicNode> {
  const node = await startNode({
    role: 'gateway',
    services: pulseSystem,
    port: 0,
    env: testEnv({ BUS: 'nats', GATEWAY_ROUTES: fixtureRoutes, ...env }),
  })
  defer(t, () => node.stop())
  return node
}

async function emit(node: MosaicNode, run: string, count: number): Promise<void> {
  const response = await fetch(new URL('/api/pulse', node.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ run, count }),
  })
  assert.equal(response.status, 200, await response.text())
}

const tallies = async (node: MosaicNode, run: string): Promise<{ total: number; events: number }> =>
  (await (await fetch(new URL(`/api/tally?run=${run}`, node.url))).json()) as { total: number; events: number }

/** Polls `probe` until `ok` holds of its value, and returns that value. */
const until = <T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> =>
  eventually(
    what,
    async () => {
      const value = await probe()
      return ok(value) && { value }
    },
    timeoutMs,
  ).then((r) => r.value)

/** How many messages `namespace`'s pulse stream holds: what the broker accepted. */
async function streamed(namespace: string): Promise<number> {
  const nc = await connect({ servers: NATS_URL })
  try {
    return (await (await jetstreamManager(nc)).streams.info(streamOf(namespace, 'pulse'))).state.messages
  } finally {
    await nc.close()
  }
}

/** Puts a relayed event back into pulse's outbox: the state a relay leaves when it dies after the ack, before the delete. */
async function unrelay(node: MosaicNode, eventId: string, run: string): Promise<void> {
  await node.engine.admin.query(
    `insert into pulse.mosaic_outbox (id, type, event)
    select $1::uuid, 'pulse.beat', jsonb_build_object('specversion', '1.0', 'id', $1::text, 'source', '/mosaic/pulse', 'type', 'pulse.beat',
      'time', now(), 'datacontenttype', 'application/json', 'data', jsonb_build_object('n', 0, 'run', $2::text))`,
    [eventId, run],
  )
}

test('a relay that dies after the broker acknowledged, before deleting the row: the event has one effect', {
  timeout: 60_000,
}, async (t) => {
  const namespace = natsNamespace(t)
  const node = await natsNode(t, { NATS_NAMESPACE: namespace, NATS_DUPLICATE_WINDOW_SECONDS: '5' })
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(node, run, 1)
  assert.deepEqual(
    await until(
      'one tally',
      () => tallies(node, run),
      (c) => c.events === 1,
    ),
    { total: 1, events: 1 },
  )
  const [row] = await node.engine.admin.query<{ event_id: string }>(`select event_id from tally.mosaic_inbox`)
  const eventId = row!.event_id

  // Within the duplicate window: the broker drops the second publication.
  await unrelay(node, eventId, run)
  await until(
    'the outbox relayed',
    async () => (await node.engine.admin.query('select 1 from pulse.mosaic_outbox')).length,
    (n) => n === 0,
  )
  assert.equal(await streamed(namespace), 1, 'the broker kept one copy')

  // After the window the broker takes it, the consumer gets it again, and its inbox absorbs it.
  await new Promise((resolve) => setTimeout(resolve, 5500))
  await unrelay(node, eventId, run)
  assert.equal(
    await until(
      'the late copy streamed',
      () => streamed(namespace),
      (n) => n === 2,
    ),
    2,
    'the broker took the late copy',
  )
  await drained(node)
  assert.deepEqual(await tallies(node, run), { total: 1, events: 1 })
})

test('a handler that keeps failing is dead-lettered in the consumer database, and replay sends it to that consumer alone', {
  timeout: 90_000,
}, async (t) => {
  const env = {
    NATS_NAMESPACE: natsNamespace(t),
    DATABASE_URL: await freshDatabase(t),
    NATS_ACK_WAIT_SECONDS: '5',
    EVENT_MAX_ATTEMPTS: '3',
    EVENT_RETRY_BASE_MS: '20',
  }
  const run = `r${randomUUID().slice(0, 8)}`
  const failing = await natsNode(t, { ...env, TALLY_FAIL_RUN: run })
  await emit(failing, run, 3)
  const dead = await until(
    'three dead letters',
    () =>
      failing.engine.admin.query<{ attempts: number; error: string }>(
        'select attempts, error from tally.mosaic_dead_letters',
      ),
    (rows) => rows.length === 3,
  )
  assert.equal(dead.length, 3)
  for (const d of dead) {
    assert.equal(d.attempts, 3)
    assert.match(d.error, /told to fail run/)
  }
  const metrics = await (await fetch(failing.metricsUrl!)).text()
  assert.match(metrics, /mosaic_dead_letters\{service="tally"\} 3/)
  assert.deepEqual(await tallies(failing, run), { total: 0, events: 0 })
  await failing.stop()

  // Fixed (started without the failure), then replayed: each once.
  const fixed = await natsNode(t, env)
  assert.equal(await fixed.replay('tally'), 3)
  assert.deepEqual(
    await until(
      'three tallies',
      () => tallies(fixed, run),
      (c) => c.events === 3,
    ),
    { total: 3, events: 3 },
  )
  assert.equal((await fixed.engine.admin.query('select 1 from tally.mosaic_dead_letters')).length, 0)
  assert.equal(await fixed.replay('tally'), 0, 'nothing left to replay')
})

test('readiness and /metrics say when the broker is gone, and the bus carries on when it is back', {
  timeout: 60_000,
}, async (t) => {
  const nats = await privateNats(t)
  const node = await natsNode(t, { NATS_URL: nats.url, NATS_NAMESPACE: natsNamespace(t, nats.url) })
  const ready = async (): Promise<number> => (await fetch(new URL('/health/ready', node.url))).status
  assert.equal(await ready(), 200)
  await nats.stop()
  assert.equal(await until('not ready', ready, (s) => s === 503), 503)
  const body = (await (await fetch(new URL('/health/ready', node.url))).json()) as {
    checks: Record<string, { status: string; output?: string }[]>
  }
  assert.equal(body.checks.events![0]!.status, 'fail')
  assert.match(await (await fetch(node.metricsUrl!)).text(), /mosaic_bus_connected 0/)
  await nats.restart(0)
  assert.equal(await until('ready again', ready, (s) => s === 200), 200)
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(node, run, 5)
  assert.deepEqual(
    await until(
      'five tallies',
      () => tallies(node, run),
      (c) => c.events === 5,
    ),
    { total: 5, events: 5 },
  )
})

test('a batch slower than the ack wait: its messages and those queued behind it are not given out again', {
  timeout: 60_000,
}, async (t) => {
  const namespace = natsNamespace(t)
  const bus = createNatsBus({
    url: NATS_URL,
    namespace,
    name: 'slow-consumer',
    log: pino({ level: 'silent' }),
    batchSize: 3,
    ackWaitSeconds: 1,
  })
  await bus.start()
  defer(t, () => bus.stop())
  const route = { id: 'slow/beats', consumer: 'slow', source: 'pulse', type: 'pulse.beat' }
  const handled: string[] = []
  await bus.subscribe({
    ...route,
    // 2.5 ack waits a batch: without the in-hand signal every message would be delivered again.
    handle: async (events) => {
      await sleep(2_500)
      handled.push(...events.map((e) => e.id))
      return events.length
    },
    deadLetter: async (event) => {
      throw new Error(`${event.id} was dead-lettered`)
    },
  })
  const events = Array.from({ length: 9 }, (_, n) => ({
    specversion: '1.0' as const,
    id: randomUUID(),
    source: '/mosaic/pulse',
    type: 'pulse.beat',
    time: new Date().toISOString(),
    datacontenttype: 'application/json' as const,
    data: { n, run: 'slow' },
  }))
  await bus.publish('pulse', events, undefined as never) // the NATS bus takes no transaction
  await until(
    'all nine handled',
    async () => handled.length,
    (n) => n >= 9,
    30_000,
  )
  await sleep(1_500) // time for a redelivery to show, were there one
  assert.deepEqual(
    handled,
    events.map((e) => e.id),
  )
  const nc = await connect({ servers: NATS_URL })
  try {
    const info = await (await jetstreamManager(nc)).consumers.info(streamOf(namespace, 'pulse'), durableOf(route))
    assert.equal(info.num_redelivered, 0)
    assert.equal(info.num_ack_pending, 0)
  } finally {
    await nc.close()
  }
})
