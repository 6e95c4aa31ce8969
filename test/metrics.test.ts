// The operator's metrics move when the system works: a dead letter raises the dead-letter gauge, a
// consumer that falls behind raises its lag and the age of its oldest event, handler durations are
// recorded per subscription; a PostgreSQL pool shows its connections in use, the requests waiting
// for one and how long a transaction waited.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode } from '../src/runtime/node.ts'
import { openPostgres } from '../src/kit/db/postgres.ts'
import { registry } from '../src/kit/telemetry/metrics.ts'
import { pulse, tally } from './fixtures/pulse.ts'
import { fixtureRoutes } from './fixtures/routes.ts'
import { testEnv } from './auth.ts'
import { defer, freshDatabase } from './infra.ts'

/** The value of the series `name{labels}` (labels as they print, in order), or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function until(probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await probe()); ) {
    assert.ok(Date.now() < end, 'timed out')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

test('bus metrics: a dead letter raises the gauge; a consumer that falls behind raises its lag and oldest event age', {
  timeout: 60_000,
}, async (t) => {
  const node = await startNode({
    role: 'gateway',
    services: [pulse, tally],
    port: 0,
    env: testEnv({
      GATEWAY_ROUTES: fixtureRoutes,
      EVENT_MAX_ATTEMPTS: '1',
      TALLY_FAIL_RUN: 'doomed',
      TALLY_DELAY_MS: '150',
    }),
  })
  defer(t, () => node.stop())
  const metrics = async (): Promise<string> => (await fetch(node.metricsUrl!)).text()
  const emit = async (run: string, count: number): Promise<void> => {
    const response = await fetch(new URL('/api/pulse', node.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ run, count }),
    })
    assert.equal(response.status, 200)
  }
  const lag = 'messaging_consumer_lag_messages{subscription="tally/pulse.pulse.beat",messaging_system="mosaic"}'
  const age =
    'mosaic_consumer_oldest_event_age_seconds{subscription="tally/pulse.pulse.beat",messaging_system="mosaic"}'
  const dead = 'mosaic_dead_letters{service="tally"}'

  const before = await metrics()
  assert.equal(valueOf(before, dead), 0)
  assert.equal(valueOf(before, lag), 0)

  await emit('doomed', 1)
  await until(async () => valueOf(await metrics(), dead) === 1)
  assert.equal(
    valueOf(
      await metrics(),
      'messaging_client_consumed_messages_total{service="tally",subscription="tally/pulse.pulse.beat",outcome="dead",messaging_system="mosaic"}',
    ),
    1,
  )

  // 12 beats at 150 ms each: the consumer is behind for a couple of seconds.
  await emit(`slow-${randomUUID().slice(0, 6)}`, 12)
  let behind = ''
  await until(async () => (valueOf((behind = await metrics()), lag) ?? 0) >= 6)
  assert.ok((valueOf(behind, age) ?? 0) > 0, 'the oldest waiting event has an age')
  assert.equal(
    valueOf(
      behind,
      'mosaic_consumer_retrying_messages{subscription="tally/pulse.pulse.beat",messaging_system="mosaic"}',
    ),
    0,
  )
  await until(async () => valueOf(await metrics(), lag) === 0)
  const after = await metrics()
  assert.equal(valueOf(after, age), 0)
  assert.ok(
    (valueOf(
      after,
      'messaging_process_duration_seconds_count{service="tally",subscription="tally/pulse.pulse.beat",messaging_system="mosaic",outcome="ok"}',
    ) ?? 0) >= 1,
  )
  assert.ok(
    (valueOf(
      after,
      'messaging_process_duration_seconds_sum{service="tally",subscription="tally/pulse.pulse.beat",messaging_system="mosaic",outcome="ok"}',
    ) ?? 0) >=
      12 * 0.15,
    "the handler's time is in its duration",
  )
})

test('PostgreSQL pool metrics: connections in use, requests waiting, and the wait of a transaction', {
  timeout: 30_000,
}, async (t) => {
  const url = await freshDatabase(t, 'mosaic_pool')
  const engine = openPostgres(url, { poolSize: 2 })
  defer(t, () => engine.close())
  const pool = `${new URL(url).pathname.slice(1)}.public`
  const series = async (): Promise<Record<string, number | undefined>> => {
    const text = await registry.metrics()
    return {
      used: valueOf(
        text,
        `db_client_connection_count{db_client_connection_pool_name="${pool}",db_client_connection_state="used"}`,
      ),
      idle: valueOf(
        text,
        `db_client_connection_count{db_client_connection_pool_name="${pool}",db_client_connection_state="idle"}`,
      ),
      max: valueOf(text, `db_client_connection_max{db_client_connection_pool_name="${pool}"}`),
      pending: valueOf(text, `db_client_connection_pending_requests{db_client_connection_pool_name="${pool}"}`),
      waits: valueOf(text, `db_client_connection_wait_time_seconds_count{db_client_connection_pool_name="${pool}"}`),
    }
  }
  await engine.admin.transaction((tx) => tx.query('select 1'))
  assert.deepEqual(await series(), { used: 0, idle: 2, max: 2, pending: 0, waits: 1 })
  // Three sleeps on a pool of two: two run, one waits.
  const sleeping = Promise.all([1, 2, 3].map(() => engine.admin.query('select pg_sleep(0.5)')))
  await new Promise((resolve) => setTimeout(resolve, 150))
  assert.deepEqual(await series(), { used: 2, idle: 0, max: 2, pending: 1, waits: 1 })
  await sleeping
  assert.deepEqual((await series()).used, 0)
})
