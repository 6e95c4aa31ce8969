// Checkout benchmark: concurrent clients place orders end to end through the gateway (`mosaic
// start`: identity, catalog, payments and orders in one process), each waiting for its order's
// final state (`Prefer: wait=10`, then polling if need be). Embedded PGlite first, then the local
// PostgreSQL server (a fresh database), beside that server's write ceiling measured in the same
// run with pgbench's built-in simple-update script (or, without pgbench, a postgres.js loop of
// single-row updates, and it says so). Prints confirmed orders/s and p50/p99 from POST to final state,
// and what an order costs: committed transactions on the server (pg_stat_database) and CPU
// milliseconds of the Mosaic process and of the PostgreSQL backends serving it (/proc), and the
// statements the services sent (the process's db_client_statements_total, by schema, from its
// /metrics), counted from the start of the warm-up until the system is idle again, over every order
// placed in that time.
// Run with `node bench/checkout.ts`; BENCH_DURATION (s), BENCH_CLIENTS, POSTGRES_ADMIN_URL tune it;
// BENCH_PG_STATEMENTS=1 also prints which statements cost the server (bench/pg-statements.ts);
// BENCH_TARGETS=embedded,postgres,distributed picks the targets (the first two by default): distributed
// is `mosaic services start` (a process per service, catalog and orders twice, every process pinned
// to core 0 like the others), one PostgreSQL database, NATS JetStream and Redis.
import { execFile } from 'node:child_process'
import { randomUUID, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnReady, printTable, runBench, freePort, pinned, type Child, type Cleanup } from './children.ts'
import type { Running } from '../src/cli/services.ts'

const mosaicBin = fileURLToPath(new URL('../bin/mosaic.js', import.meta.url))
import { cpuMs, totalCpuMs } from './cpu.ts'
import { statementStats } from './pg-statements.ts'

const run = promisify(execFile)
const duration = Number(process.env.BENCH_DURATION ?? 10)
const clients = Number(process.env.BENCH_CLIENTS ?? 16)
const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const targets = new Set((process.env.BENCH_TARGETS ?? 'embedded,postgres').split(','))
export const admin = { AUTH_ADMIN_EMAIL: 'bench@mosaic.test', AUTH_ADMIN_PASSWORD: 'bench-admin-password-long-enough' }
const PASSWORD = 'Bench-customer-pw-42!'

export interface Result {
  confirmed: number
  other: number
  errors: number
  perSecond: number
  p50: number
  p99: number
  /** Orders placed from the start of the warm-up (what the per-order costs divide by). */
  placed: number
  /** CPU ms per order of the Mosaic process. */
  cpuMsPerOrder: number
  /** Of the PostgreSQL server, when the target has one: committed transactions and backend CPU ms per order. */
  xactsPerOrder?: number
  dbCpuMsPerOrder?: number
  /** Statements the services sent per order, by schema (the process's db_client_statements_total), when its /metrics is read. */
  statementsPerOrder?: Record<string, number>
}

/** Counters read at the start of the warm-up and once the system is idle again. */
interface Counters {
  readonly cpuMs: number
  readonly xacts?: number
  readonly dbCpuMs?: number
  readonly statements?: Record<string, number>
}

/** What is counted on a target: its own process, and the PostgreSQL database it uses, if any. */
export interface Meter {
  /**
   * `statements`: also the process's statement counters, read from its /metrics, whose gauges cost
   * statements of their own (read at the start and the end only, not while waiting to settle).
   */
  read(statements?: boolean): Promise<Counters>
}

/** The Mosaic process's CPU time only (embedded: PGlite runs inside it), and its statements if `metrics` is its /metrics. */
export const processMeter = (pid: number, metrics?: string): Meter => ({
  read: async (all) => ({
    cpuMs: await cpuMs(pid),
    ...(metrics && all ? { statements: await statements(metrics) } : {}),
  }),
})

/** The statements counted by schema in a process's /metrics (db_client_statements_total). */
async function statements(metrics: string): Promise<Record<string, number>> {
  const text = await (await fetch(metrics)).text()
  const counts: Record<string, number> = {}
  for (const [, schema, n] of text.matchAll(/^db_client_statements_total\{db_namespace="([^"]+)"\} (\S+)$/gm))
    counts[schema!] = Number(n)
  return counts
}

/**
 * The Mosaic processes and the server's database `url`: transactions committed or rolled back in it
 * (pg_stat_database), and the CPU of the backends connected to it (their pids from pg_stat_activity,
 * those seen at the start and those at the end).
 */
function databaseMeter(pids: readonly number[], url: string, cleanup: Cleanup, metrics?: string): Meter {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  cleanup.push(() => sql.end({ timeout: 5 }))
  const seen = new Set<number>()
  return {
    async read(all) {
      const [row] = await sql<{ xacts: string }[]>`
        select (xact_commit + xact_rollback)::text as xacts from pg_stat_database where datname = current_database()`
      const backends = await sql<{ pid: number }[]>`
        select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`
      for (const b of backends) seen.add(b.pid)
      return {
        cpuMs: await totalCpuMs(pids),
        xacts: Number(row!.xacts),
        dbCpuMs: await totalCpuMs([...seen]),
        ...(metrics && all ? { statements: await statements(metrics) } : {}),
      }
    },
  }
}

/**
 * Waits until the target is idle (its last events consumed): under 25 ms of CPU in half a second,
 * twice in a row, at most 20 s; then a little more so PostgreSQL's backends have flushed their
 * statistics (each does at most once a second while busy, and within a second of going idle).
 */
async function settle(meter: Meter): Promise<void> {
  const until = performance.now() + 20_000
  let quiet = 0
  let last = (await meter.read()).cpuMs
  while (quiet < 2 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const now = (await meter.read()).cpuMs
    quiet = now - last < 25 ? quiet + 1 : 0
    last = now
  }
  await new Promise((resolve) => setTimeout(resolve, 1500))
}

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

async function json<T>(url: string, init: RequestInit & { token?: string } = {}): Promise<{ status: number; body: T }> {
  const headers = new Headers(init.headers)
  if (init.token) headers.set('authorization', `Bearer ${init.token}`)
  if (init.body) headers.set('content-type', 'application/json')
  const response = await fetch(url, { ...init, headers })
  return { status: response.status, body: (await response.json()) as T }
}

/** Signs up a customer and returns their access token. */
async function customer(base: string): Promise<string> {
  const email = `bench-${randomUUID().slice(0, 8)}@mosaic.test`
  const created = await json(`${base}/api/users`, {
    method: 'POST',
    body: JSON.stringify({ email, password: PASSWORD, name: 'Bench' }),
  })
  if (created.status !== 201) throw new Error(`sign-up: ${created.status} ${JSON.stringify(created.body)}`)
  return (
    await json<{ accessToken: string }>(`${base}/api/users/login`, {
      method: 'POST',
      body: JSON.stringify({ email, password: PASSWORD }),
    })
  ).body.accessToken
}

/** Places orders against `target` for the warm-up and BENCH_DURATION; also used by bench/tracing.ts. */
export async function checkout(
  target: Pick<Child, 'url' | 'pid'>,
  meter: Meter = processMeter(target.pid),
): Promise<Result> {
  const base = target.url
  const login = await json<{ accessToken: string }>(`${base}/api/users/login`, {
    method: 'POST',
    body: JSON.stringify({ email: admin.AUTH_ADMIN_EMAIL, password: admin.AUTH_ADMIN_PASSWORD }),
  })
  const product = `bench-${randomUUID().slice(0, 8)}`
  const created = await json(`${base}/api/products`, {
    method: 'POST',
    token: login.body.accessToken,
    body: JSON.stringify({ id: product, name: 'Bench widget', price: '9.99', currency: 'EUR', stock: 1_000_000_000 }),
  })
  if (created.status !== 201) throw new Error(`product: ${created.status} ${JSON.stringify(created.body)}`)
  const tokens = await Promise.all(Array.from({ length: Math.min(clients, 4) }, () => customer(base)))

  const latencies: number[] = []
  let other = 0
  let errors = 0
  let placed = 0
  const order = async (token: string): Promise<void> => {
    placed++
    const started = performance.now()
    try {
      let reply = await json<{ id: string; status: string }>(`${base}/api/orders`, {
        method: 'POST',
        token,
        headers: { 'idempotency-key': randomUUID(), prefer: 'wait=10' },
        body: JSON.stringify({ productId: product, quantity: 1, paymentMethod: { token: 'tok_visa' } }),
      })
      while (reply.body.status === 'PENDING') reply = await json(`${base}/api/orders/${reply.body.id}`, { token })
      if (reply.body.status === 'CONFIRMED') latencies.push(performance.now() - started)
      else other++
    } catch {
      errors++
    }
  }
  const until = (seconds: number): number => performance.now() + seconds * 1000
  // Warm-up, then the measured run: each client places one order after another.
  const loop = async (i: number, end: number): Promise<void> => {
    while (performance.now() < end) await order(tokens[i % tokens.length]!)
  }
  const before = await meter.read(true)
  const warm = until(2)
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i, warm)))
  latencies.length = 0
  other = 0
  errors = 0
  const started = performance.now()
  const end = until(duration)
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i, end)))
  const elapsed = (performance.now() - started) / 1000
  await settle(meter)
  const after = await meter.read(true)
  const perOrder = (from?: number, to?: number): number | undefined =>
    from === undefined || to === undefined ? undefined : (to - from) / placed
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    placed,
    cpuMsPerOrder: perOrder(before.cpuMs, after.cpuMs)!,
    ...(before.xacts === undefined ? {} : { xactsPerOrder: perOrder(before.xacts, after.xacts) }),
    ...(before.dbCpuMs === undefined ? {} : { dbCpuMsPerOrder: perOrder(before.dbCpuMs, after.dbCpuMs) }),
    ...(after.statements === undefined
      ? {}
      : {
          statementsPerOrder: Object.fromEntries(
            Object.entries(after.statements).map(([schema, n]) => [
              schema,
              perOrder(before.statements?.[schema] ?? 0, n)!,
            ]),
          ),
        }),
    confirmed: latencies.length,
    other,
    errors,
    perSecond: latencies.length / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  }
}

/**
 * The system as `mosaic services start` runs it, every process (all its threads) pinned to core 0
 * once ready; stopped with `mosaic services stop` on cleanup.
 */
async function startDistributed(
  cleanup: Cleanup,
  env: Record<string, string>,
): Promise<{ url: string; pid: number; pids: number[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-bench-distributed-'))
  const all = {
    ...process.env,
    ...env,
    DATA_DIR: dataDir,
    BUS: 'nats',
    NATS_NAMESPACE: `bench-${randomBytes(4).toString('hex')}`,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  }
  const mosaic = (...args: string[]) =>
    run(process.execPath, [mosaicBin, 'services', ...args], { env: all, maxBuffer: 16 << 20 })
  cleanup.push(async () => {
    await mosaic('stop').catch(() => {})
    await rm(dataDir, { recursive: true, force: true })
  })
  await mosaic('start', '--replicas', 'catalog=2,orders=2')
  const processes = JSON.parse((await mosaic('status', '--json')).stdout) as Running[]
  // Pinned once started: ten processes starting at once on one core would not all be ready in time.
  if (pinned) for (const p of processes) await run('taskset', ['-a', '-p', '-c', '0', String(p.pid)])
  const gateway = processes.find((p) => p.name === 'gateway')!
  return { url: gateway.url, pid: gateway.pid, pids: processes.map((p) => p.pid) }
}

/** A fresh database on the local server; dropped on cleanup. */
async function freshDatabase(cleanup: Cleanup): Promise<string> {
  const name = `mosaic_bench_${randomBytes(4).toString('hex')}`
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await sql.unsafe(`create database ${name}`)
  cleanup.push(async () => {
    await sql.unsafe(`drop database if exists ${name} with (force)`)
    await sql.end({ timeout: 5 })
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** The server's single-row-update ceiling: pgbench simple-update, or a postgres.js loop without pgbench. */
async function writeCeiling(url: string): Promise<{ tps: number; how: string }> {
  const found = await run('which', ['pgbench']).then(
    () => true,
    () => false,
  )
  if (found) {
    await run('pgbench', ['-i', '-s', '1', '-q', url])
    const { stdout } = await run('pgbench', [
      '-b',
      'simple-update',
      '-c',
      String(clients),
      '-j',
      '2',
      '-T',
      String(duration),
      url,
    ])
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1])
    return { tps, how: `pgbench -b simple-update, ${clients} clients, ${duration} s` }
  }
  const sql = postgres(url, { max: clients, onnotice: () => {} })
  await sql
    .unsafe(
      'create table ceiling (id int primary key, n bigint not null); insert into ceiling select g, 0 from generate_series(1, 1000) g',
    )
    .simple()
  let updates = 0
  const end = performance.now() + duration * 1000
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        await sql`update ceiling set n = n + 1 where id = ${1 + Math.floor(Math.random() * 1000)}`
        updates++
      }
    }),
  )
  await sql.end({ timeout: 5 })
  return {
    tps: updates / duration,
    how: `no pgbench: postgres.js single-row updates, ${clients} connections, ${duration} s`,
  }
}

const metricsUrl = (port: number): string => `http://127.0.0.1:${port}/metrics`

/** Per-order figures for the table: one decimal, or a dash where the target has no such counter. */
const fixed = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(1))

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(
    `load: ${clients} clients placing orders (1 line, tok_visa) through the gateway, each waiting for the final state; 2 s warm-up + ${duration} s\n`,
  )
  const env: Record<string, string> = {
    ...admin,
    CATALOG_SEED_DEMO: 'false',
    ORDERS_SAGA_POLL_MS: '200',
    DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE ?? '10',
    // Another benchmark on the machine may hold the default port: a free one where it is read, else off.
    METRICS_PORT: 'off',
  }
  // BENCH_CPU_PROF=<dir>: the Mosaic process writes a V8 CPU profile there when it stops.
  if (process.env.BENCH_CPU_PROF) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROF}`

  const rows = [
    [
      'target',
      'confirmed/s',
      'p50 ms',
      'p99 ms',
      'confirmed',
      'not confirmed/errors',
      'tx/order',
      'statements/order',
      'CPU ms/order',
      'PG CPU ms/order',
    ],
  ]
  const add = (label: string, r: Result): void => {
    rows.push([
      label,
      r.perSecond.toFixed(1),
      r.p50.toFixed(0),
      r.p99.toFixed(0),
      String(r.confirmed),
      `${r.other}/${r.errors}`,
      fixed(r.xactsPerOrder),
      fixed(r.statementsPerOrder && Object.values(r.statementsPerOrder).reduce((a, b) => a + b, 0)),
      fixed(r.cpuMsPerOrder),
      fixed(r.dbCpuMsPerOrder),
    ])
    console.log(`  ${label}: ${r.perSecond.toFixed(1)} confirmed orders/s`)
    if (r.statementsPerOrder) {
      const by = Object.entries(r.statementsPerOrder).filter(([, n]) => n >= 0.05)
      console.log(`    statements/order by schema: ${by.map(([s, n]) => `${s} ${n.toFixed(1)}`).join(', ')}`)
    }
  }

  if (targets.has('embedded')) {
    const metrics = await freePort()
    const embedded = await spawnReady('embedded', ['start'], 'PORT', cleanup, { ...env, METRICS_PORT: String(metrics) })
    add('embedded (PGlite)', await checkout(embedded, processMeter(embedded.pid, metricsUrl(metrics))))
    await embedded.stop()
  }

  let ceiling: { tps: number; how: string } | undefined
  let pg: Result | undefined
  if (targets.has('postgres')) {
    const url = await freshDatabase(cleanup)
    const metrics = await freePort()
    const server = await spawnReady('postgres', ['start'], 'PORT', cleanup, {
      ...env,
      DATABASE_URL: url,
      METRICS_PORT: String(metrics),
    })
    // BENCH_PG_STATEMENTS=1: which statements, tables and waits the checkout cost the server.
    const stats = process.env.BENCH_PG_STATEMENTS ? await statementStats(url, cleanup) : undefined
    await stats?.reset()
    pg = await checkout(server, databaseMeter([server.pid], url, cleanup, metricsUrl(metrics)))
    await stats?.print(pg.placed)
    add('PostgreSQL server', pg)
    await server.stop()
    ceiling = await writeCeiling(url)
    rows.push([`PostgreSQL write ceiling (tps)`, ceiling.tps.toFixed(0), '', '', '', '', '', '', '', ''])
  }

  if (targets.has('distributed')) {
    const url = await freshDatabase(cleanup)
    const system = await startDistributed(cleanup, { ...env, DATABASE_URL: url })
    add(
      `distributed (${system.pids.length} processes, NATS)`,
      await checkout(system, databaseMeter(system.pids, url, cleanup)),
    )
  }
  printTable(rows)
  console.log(
    '\ntargets: ≥ 300 confirmed orders/s on PostgreSQL with p99 ≤ 250 ms (16 clients); ≥ 100 orders/s embedded',
  )
  console.log(
    'per order: from the start of the warm-up until the system is idle again (events consumed), over every order placed; tx = transactions committed or rolled back in the database (PostgreSQL only); statements = those the services sent (db_client_statements_total of the process)',
  )
  if (ceiling && pg) {
    console.log(`ceiling: ${ceiling.how}`)
    console.log(
      `confirmed orders/s on PostgreSQL ÷ single-row-update tps: ${((pg.perSecond / ceiling.tps) * 100).toFixed(2)}%`,
    )
  }
}

// Run as a script (imported by bench/tracing.ts for `checkout`, it runs nothing).
if (import.meta.main) await runBench(main)
