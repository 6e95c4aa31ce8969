// Proxy benchmark: GET /api/products/prod-mouse through the gateway (`mosaic start`, the catalog
// in its own process on PostgreSQL: `mosaic serve catalog`), anonymous and with a bearer token,
// beside a plain @fastify/http-proxy in front of a plain Fastify + postgres.js server doing the
// same primary-key read (bench/peers/). Servers share CPU 0; run this script on CPU 1:
//   taskset -c 1 node bench/gateway-proxy.ts
// BENCH_DURATION (s), BENCH_CONNECTIONS, BENCH_ROUNDS and POSTGRES_ADMIN_URL tune it.
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import autocannon from 'autocannon'
import postgres from 'postgres'
import { spawnReady, printTable, runBench, type Child, type Cleanup } from './children.ts'

const duration = Number(process.env.BENCH_DURATION ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const admin = { AUTH_ADMIN_EMAIL: 'bench@mosaic.test', AUTH_ADMIN_PASSWORD: 'bench-admin-password-long-enough' }
const path = '/api/products/prod-mouse'

interface Run {
  req: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

async function load(url: string, headers: Record<string, string>): Promise<Run> {
  await autocannon({ url: url + path, connections, duration: 2, headers })
  const r = await autocannon({ url: url + path, connections, duration, headers })
  return {
    req: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  }
}

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}; servers on core 0 (bench/children.ts)`,
  )
  console.log(
    `load: GET ${path}, ${connections} connections, 2 s warm-up + ${duration} s, ${rounds} round(s), best run per target\n`,
  )

  const database = `mosaic_bench_${randomBytes(4).toString('hex')}`
  const pg = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await pg.unsafe(`create database ${database}`)
  cleanup.push(async () => {
    await pg.unsafe(`drop database if exists ${database} with (force)`)
    await pg.end()
  })
  const databaseUrl = new URL(adminUrl)
  databaseUrl.pathname = `/${database}`

  const catalog = await spawnReady('catalog', ['serve', 'catalog'], 'CATALOG_SERVICE_PORT', cleanup, {
    DATABASE_URL: databaseUrl.toString(),
  })
  const gateway = await spawnReady('gateway', ['start'], 'PORT', cleanup, {
    CATALOG_SERVICE_URL: catalog.url,
    DATABASE_URL: databaseUrl.toString(),
    ...admin,
  })
  const plain = await spawnReady(
    'plain',
    [],
    'PORT',
    cleanup,
    { DATABASE_URL: databaseUrl.toString() },
    'bench/peers/plain-catalog.ts',
  )
  const proxy = await spawnReady(
    'proxy',
    [],
    'PORT',
    cleanup,
    { UPSTREAM_URL: plain.url },
    'bench/peers/plain-proxy.ts',
  )
  const login = await fetch(`${gateway.url}/api/users/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: admin.AUTH_ADMIN_EMAIL, password: admin.AUTH_ADMIN_PASSWORD }),
  })
  const bearer = { authorization: `Bearer ${((await login.json()) as { accessToken: string }).accessToken}` }
  for (const target of [gateway, proxy]) {
    const res = await fetch(target.url + path, { headers: bearer })
    if (res.status !== 200) throw new Error(`${target.name}: GET ${path} answered ${res.status}: ${await res.text()}`)
  }

  const targets: [string, Child, Record<string, string>][] = [
    ['peer: http-proxy → fastify + postgres.js', proxy, {}],
    ['mosaic gateway → catalog, anonymous', gateway, {}],
    ['mosaic gateway → catalog, bearer token', gateway, bearer],
  ]
  const best = new Map<string, Run>()
  for (let round = 1; round <= rounds; round++) {
    for (const [label, target, headers] of targets) {
      const run = await load(target.url, headers)
      if (!best.has(label) || run.req > best.get(label)!.req) best.set(label, run)
      console.log(`  round ${round} ${label.padEnd(42)} ${Math.round(run.req)} req/s`)
    }
  }
  const peer = best.get(targets[0]![0])!
  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'req/s vs peer', 'p99 vs peer']]
  for (const [label] of targets) {
    const r = best.get(label)!
    rows.push([
      label,
      String(Math.round(r.req)),
      String(r.p50),
      String(r.p99),
      `${r.errors}/${r.non2xx}`,
      `${(r.req / peer.req).toFixed(2)}×`,
      `${(r.p99 / peer.p99).toFixed(2)}×`,
    ])
  }
  printTable(rows)
  console.log("\naim: ≥ 1.5× the peer's req/s, p99 at most 0.5× the peer's")
}

await runBench(main)
