// Events end to end, distributed: events committed to a producer's outbox, relayed to NATS JetStream
// and handled by a consumer in another process with its inbox record and its effect, each service on
// a PostgreSQL database of its own — beside the raw NATS client publishing and consuming the same
// messages with the same acks (bench/peers/nats-raw.ts), in the same run. Producer processes are
// pinned to core 0 and consumers to core 1 (`taskset`); NATS and PostgreSQL run where they may.
// Run with `node bench/events.ts`; BENCH_EVENTS (default 20000) and BENCH_ROUNDS (2) tune it.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { printTable, runBench, type Cleanup } from './children.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const nodeBin = join(root, 'node_modules/.bin/node')
const count = Number(process.env.BENCH_EVENTS ?? 20_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const secret = 'bench-only-secret-bench-only-secret'

/** Starts `args` with Node on `core`; resolves with the process once its output matches `ready`. */
async function start(
  core: number,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  cleanup: Cleanup,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('taskset', ['-c', String(core), nodeBin, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = once(child, 'exit')
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  for (const until = Date.now() + 60_000; !ready.test(output); ) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`${args.join(' ')} did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { child, output: () => output }
}

async function database(name: string, cleanup: Cleanup): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  cleanup.push(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

async function mosaicRun(pulseDb: postgres.Sql, tallyDb: postgres.Sql, n: number): Promise<number> {
  const run = `b${randomBytes(4).toString('hex')}`
  const started = Date.now()
  // One commit puts n events in the outbox, as n service transactions would have one at a time.
  await pulseDb.unsafe(
    `insert into pulse.mosaic_outbox (id, type, event)
    select id, 'pulse.beat', jsonb_build_object('specversion', '1.0', 'id', id, 'source', '/mosaic/pulse', 'type', 'pulse.beat',
      'time', now(), 'datacontenttype', 'application/json', 'subject', $1 || '-' || (n % 16), 'data', jsonb_build_object('n', n, 'run', $1::text))
    from (select gen_random_uuid() as id, n from generate_series(1, $2::int) n) s order by n`,
    [run, n],
  )
  for (;;) {
    const [row] = await tallyDb.unsafe(`select count(*)::int as n from tally.tallies where event_id like $1 || ':%'`, [
      run,
    ])
    if (row!.n >= n) return n / ((Date.now() - started) / 1000)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function peerRun(namespace: string, n: number, round: number, cleanup: Cleanup): Promise<number> {
  const stream = `${namespace.toUpperCase()}_PEER`
  const nc = await connect({ servers: natsUrl })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: stream, subjects: [`${namespace}.peer.>`], duplicate_window: 120_000_000_000 })
  const peer = join(root, 'bench/peers/nats-raw.ts')
  const consumer = await start(1, [peer, 'consume', natsUrl, stream, `peer${round}`, String(n)], {}, /READY/, cleanup)
  const publisher = await start(
    0,
    [peer, 'publish', natsUrl, stream, `${namespace}.peer.beat`, String(n), '500'],
    {},
    /START \d+/,
    cleanup,
  )
  await once(consumer.child, 'exit')
  await once(publisher.child, 'exit').catch(() => {})
  await jsm.streams.delete(stream)
  await nc.close()
  const begun = Number(/START (\d+)/.exec(publisher.output())![1])
  const ended = Number(/END (\d+)/.exec(consumer.output())![1])
  return n / ((ended - begun) / 1000)
}

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(
    `events: ${count} per run, ${rounds} round(s), best run per side; producer on core 0, consumer on core 1\n`,
  )
  const suffix = randomBytes(4).toString('hex')
  const namespace = `bench${suffix}`
  cleanup.push(async () => {
    const nc = await connect({ servers: natsUrl })
    const jsm = await jetstreamManager(nc)
    for await (const name of jsm.streams.names())
      if (name.startsWith(namespace.toUpperCase())) await jsm.streams.delete(name)
    await nc.close()
  })
  const env = {
    MOSAIC_INTERNAL_SECRET: secret,
    BUS: 'nats',
    NATS_URL: natsUrl,
    NATS_NAMESPACE: namespace,
    EVENT_POLL_MS: '20',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PULSE_DATABASE_URL: await database(`bench_pulse_${suffix}`, cleanup),
    TALLY_DATABASE_URL: await database(`bench_tally_${suffix}`, cleanup),
  }
  const script = join(root, 'test/fixtures/bus-node.ts')
  await start(0, [script, 'pulse'], env, /READY/, cleanup)
  await start(1, [script, 'tally'], env, /READY/, cleanup)
  const pulseDb = postgres(env.PULSE_DATABASE_URL, { max: 1, onnotice: () => {} })
  const tallyDb = postgres(env.TALLY_DATABASE_URL, { max: 1, onnotice: () => {} })
  cleanup.push(async () => {
    await pulseDb.end()
    await tallyDb.end()
  })

  await mosaicRun(pulseDb, tallyDb, Math.min(2000, count)) // warm-up: streams, consumers, JIT
  const mosaic: number[] = []
  const peer: number[] = []
  for (let round = 1; round <= rounds; round++) {
    mosaic.push(await mosaicRun(pulseDb, tallyDb, count))
    peer.push(await peerRun(namespace, count, round, cleanup))
    console.log(
      `  round ${round}: mosaic ${Math.round(mosaic.at(-1)!)} events/s, raw NATS ${Math.round(peer.at(-1)!)} messages/s`,
    )
  }
  const best = (xs: number[]): number => Math.max(...xs)
  printTable([
    ['path', 'events/s'],
    ['outbox → JetStream → consumer inbox + effect (Mosaic)', String(Math.round(best(mosaic)))],
    ['raw NATS client: publish with acks → consume with acks', String(Math.round(best(peer)))],
    ['Mosaic / raw (aim ≥ 0.30, and ≥ 10,000 events/s)', (best(mosaic) / best(peer)).toFixed(2)],
  ])
}

await runBench(main)
