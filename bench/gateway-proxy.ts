// Proxy benchmark: GET /api/products/prod-mouse through the gateway (`mosaic start`, the catalog
// in its own process on PostgreSQL: `mosaic serve catalog`), anonymous and with a bearer token,
// beside a plain @fastify/http-proxy in front of a plain Fastify + postgres.js server doing the
// same primary-key read (bench/peers/). Servers share CPU 0; run this script on CPU 1:
//   taskset -c 1 node bench/gateway-proxy.ts
// BENCH_DURATION (s), BENCH_CONNECTIONS, BENCH_ROUNDS and POSTGRES_ADMIN_URL tune it.
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { spawnReady, printTable, runBench, type Cleanup } from './children.ts'
import { bestOfRounds, describeMachine, expectOk, type LoadOptions } from './load.ts'

const options: LoadOptions = {
  duration: Number(process.env.BENCH_DURATION ?? 10),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
  warmup: 2,
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const admin = { AUTH_ADMIN_EMAIL: 'bench@mosaic.test', AUTH_ADMIN_PASSWORD: 'bench-admin-password-long-enough' }
const path = '/api/products/prod-mouse'

async function main(cleanup: Cleanup): Promise<void> {
  console.log(`${describeMachine()}; servers on core 0 (bench/children.ts)`)
  console.log(
    `load: GET ${path}, ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s, ${rounds} round(s), best run per target\n`,
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
  for (const target of [gateway, proxy]) await expectOk(target.url + path, bearer)

  const targets = [
    { label: 'peer: http-proxy → fastify + postgres.js', url: proxy.url + path, pids: [proxy.pid, plain.pid] },
    { label: 'mosaic gateway → catalog, anonymous', url: gateway.url + path, pids: [gateway.pid, catalog.pid] },
    {
      label: 'mosaic gateway → catalog, bearer token',
      url: gateway.url + path,
      headers: bearer,
      pids: [gateway.pid, catalog.pid],
    },
  ]
  const best = await bestOfRounds(targets, rounds, options)
  const peer = best.get(targets[0]!.label)!
  const rows = [
    ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'req/s vs peer', 'p99 vs peer', 'CPU ms/req', 'vs peer'],
  ]
  for (const { label } of targets) {
    const r = best.get(label)!
    rows.push([
      label,
      String(Math.round(r.req)),
      String(r.p50),
      String(r.p99),
      `${r.errors}/${r.non2xx}`,
      `${(r.req / peer.req).toFixed(2)}×`,
      `${(r.p99 / peer.p99).toFixed(2)}×`,
      r.cpuMs.toFixed(3),
      `${(r.cpuMs / peer.cpuMs).toFixed(2)}×`,
    ])
  }
  printTable(rows)
  console.log("\naim: ≥ 1.5× the peer's req/s, p99 at most 0.5× the peer's")
  console.log(
    "CPU ms/req: the two server processes of each side, per answered request (PostgreSQL's own CPU not counted: the peer's read reaches it every time, the catalog's cached read does not)",
  )
}

await runBench(main)
