// Events between processes: a producer and its consumer each in a process of its own, on databases
// of their own, connected by NATS JetStream. Every event arrives and has exactly one effect, across
// a consumer killed mid-batch and a broker restarted mid-stream; the embedded bus refuses a layout
// it cannot serve, and serves processes that share one PostgreSQL database.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { spawnNode, runNode, type Child } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { defer, freshDatabase, natsNamespace, privateNats, NATS_URL } from '../infra.ts'

const script = join(import.meta.dirname, '..', 'fixtures', 'bus-node.ts')
type Tally = { total: number; events: number }

const base = {
  MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
  LOG_LEVEL: 'warn',
  LOG_PRETTY: 'false',
  EVENT_POLL_MS: '50',
  HOST: '127.0.0.1',
}

/** A NATS layout: pulse and tally on databases of their own, in one namespace. */
async function natsLayout(t: TestContext, natsUrl = NATS_URL): Promise<Record<string, string>> {
  return {
    ...base,
    BUS: 'nats',
    NATS_URL: natsUrl,
    NATS_NAMESPACE: natsNamespace(t, natsUrl),
    NATS_ACK_WAIT_SECONDS: '2',
    PULSE_DATABASE_URL: await freshDatabase(t, 'mosaic_pulse'),
    TALLY_DATABASE_URL: await freshDatabase(t, 'mosaic_tally'),
  }
}

async function start(t: TestContext, service: 'pulse' | 'tally', env: Record<string, string>): Promise<Child> {
  const child = await spawnNode([script, service], env, 30_000)
  defer(t, () => child.kill('SIGKILL'))
  return child
}

/** Publishes `count` beats of `run`, a thousand to a request. */
async function emit(pulse: Child, run: string, count: number): Promise<void> {
  for (let from = 0; from < count; from += 1000) {
    const body = JSON.stringify({ run, from, count: Math.min(1000, count - from) })
    const response = await fetch(new URL('/api/pulse', pulse.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    assert.equal(response.status, 200, await response.text())
  }
}

const tallyOf = async (tally: Child, run: string): Promise<Tally> =>
  (await (await fetch(new URL(`/api/tally?run=${run}`, tally.url))).json()) as Tally

/** Polls until `done(tally)` (or the time is up) and returns the last count. */
async function until(tally: () => Child, run: string, done: (t: Tally) => boolean, timeoutMs = 60_000): Promise<Tally> {
  let last: Tally = { total: 0, events: 0 }
  for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
    last = await tallyOf(tally(), run).catch(() => last)
    if (done(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return last
}

test('a producer and its consumer in different processes and databases: every event arrives, one effect each', {
  timeout: 120_000,
}, async (t) => {
  const env = await natsLayout(t)
  const [pulse, tally] = await Promise.all([start(t, 'pulse', env), start(t, 'tally', env)])
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(pulse, run, 2000)
  assert.deepEqual(
    await until(
      () => tally,
      run,
      (c) => c.events >= 2000,
    ),
    { total: 2000, events: 2000 },
  )
  const ready = (await (await fetch(new URL('/health/ready', tally.url))).json()) as {
    checks: Record<string, { status: string }[]>
  }
  assert.equal(ready.checks.events![0]!.status, 'pass')
  const metrics = await (await fetch(tally.metricsUrl)).text()
  assert.match(
    metrics,
    /messaging_consumer_lag_messages\{subscription="tally\/pulse\.pulse\.beat",messaging_system="nats"\} 0/,
  )
  assert.match(metrics, /mosaic_dead_letters\{service="tally"\} 0/)
})

test('a consumer started after its producer published still gets every event', { timeout: 120_000 }, async (t) => {
  const env = await natsLayout(t)
  const pulse = await start(t, 'pulse', env)
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(pulse, run, 300)
  const tally = await start(t, 'tally', env)
  assert.deepEqual(
    await until(
      () => tally,
      run,
      (c) => c.events >= 300,
    ),
    { total: 300, events: 300 },
  )
})

test('a consumer killed with SIGKILL mid-batch, then restarted: nothing lost, nothing doubled', {
  timeout: 120_000,
}, async (t) => {
  const env = { ...(await natsLayout(t)), TALLY_DELAY_MS: '2' }
  const pulse = await start(t, 'pulse', env)
  let tally = await start(t, 'tally', env)
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(pulse, run, 3000)
  const before = await until(
    () => tally,
    run,
    (c) => c.events >= 300,
  )
  assert.ok(before.events >= 300 && before.events < 3000, `killed mid-stream (${before.events} handled)`)
  assert.equal(await tally.kill('SIGKILL'), 'SIGKILL')
  tally = await start(t, 'tally', env)
  assert.deepEqual(
    await until(
      () => tally,
      run,
      (c) => c.events >= 3000,
    ),
    { total: 3000, events: 3000 },
  )
})

test('the NATS server restarted during a stream of 10,000 events: none missing, none doubled', {
  timeout: 180_000,
}, async (t) => {
  const nats = await privateNats(t)
  const env = await natsLayout(t, nats.url)
  const [pulse, tally] = await Promise.all([start(t, 'pulse', env), start(t, 'tally', env)])
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(pulse, run, 10_000)
  const before = await until(
    () => tally,
    run,
    (c) => c.events >= 1000,
  )
  await nats.restart()
  const after = await until(
    () => tally,
    run,
    (c) => c.events >= 10_000,
    120_000,
  )
  assert.ok(before.events < 10_000, `the restart came mid-stream (${before.events} handled before it)`)
  assert.deepEqual(after, { total: 10_000, events: 10_000 })
  assert.match(tally.output() + pulse.output(), /NATS connection lost/, 'the processes saw the broker go')
})

test('the embedded bus refuses processes on PGlites of their own, and serves processes sharing PostgreSQL', {
  timeout: 120_000,
}, async (t) => {
  const refused = await runNode([script, 'tally'], { ...base, BUS: 'embedded', DATA_DIR: ':memory:' })
  assert.equal(refused.code, 1)
  assert.match(
    refused.stderr,
    /invalid configuration: BUS is embedded, and pulse and tally run in different processes, each on its own PGlite, so tally would never receive pulse's pulse.beat: set DATABASE_URL to one PostgreSQL database shared by every process, or BUS=nats and NATS_URL/,
  )

  const ownDatabase = await runNode([script, 'tally'], {
    ...base,
    BUS: 'embedded',
    DATABASE_URL: 'postgres://127.0.0.1:9/none',
    TALLY_DATABASE_URL: 'postgres://127.0.0.1:9/tally',
  })
  assert.equal(ownDatabase.code, 1)
  assert.match(
    ownDatabase.stderr,
    /BUS is embedded, which queues events in the one database every service shares, but TALLY_DATABASE_URL gives tally its own/,
  )

  const shared = { ...base, BUS: 'embedded', DATABASE_URL: await freshDatabase(t) }
  const [pulse, tally] = await Promise.all([start(t, 'pulse', shared), start(t, 'tally', shared)])
  const run = `r${randomUUID().slice(0, 8)}`
  await emit(pulse, run, 500)
  assert.deepEqual(
    await until(
      () => tally,
      run,
      (c) => c.events >= 500,
    ),
    { total: 500, events: 500 },
  )
})
