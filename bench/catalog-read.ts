// Read benchmark: GET /api/products/:id against the catalog service served alone and through the
// embedded gateway (`mosaic start`), one target at a time so they never share the CPU.
// Run with `npm run bench`; BENCH_DURATION (s), BENCH_CONNECTIONS and BENCH_ROUNDS tune it.
import { cpus } from 'node:os'
import autocannon from 'autocannon'
import { spawnReady, printTable, runBench, type Child, type Cleanup } from './children.ts'

const duration = Number(process.env.BENCH_DURATION ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const warmup = 2
const path = '/api/products/prod-mouse'

interface Run {
  req: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

async function load(target: Child): Promise<Run> {
  await autocannon({ url: target.url + path, connections, duration: warmup })
  const r = await autocannon({ url: target.url + path, connections, duration })
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
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(
    `load: GET ${path}, ${connections} connections, ${warmup} s warm-up + ${duration} s, ${rounds} round(s), best run per target\n`,
  )

  const direct = await spawnReady('catalog', ['serve', 'catalog'], 'CATALOG_SERVICE_PORT', cleanup)
  const gateway = await spawnReady('gateway', ['start'], 'PORT', cleanup)
  for (const target of [direct, gateway]) {
    const res = await fetch(target.url + path)
    const body = (await res.json()) as { id?: string }
    if (res.status !== 200 || body.id !== 'prod-mouse')
      throw new Error(`${target.name}: GET ${path} answered ${res.status}; is the demo seed on?`)
  }

  const runs = new Map<Child, Run[]>([
    [direct, []],
    [gateway, []],
  ])
  for (let round = 1; round <= rounds; round++) {
    for (const target of [direct, gateway]) {
      const run = await load(target)
      runs.get(target)!.push(run)
      console.log(`  round ${round} ${target.name.padEnd(8)} ${Math.round(run.req)} req/s`)
    }
  }
  const best = (target: Child): Run => runs.get(target)!.reduce((a, b) => (b.req > a.req ? b : a))

  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx']]
  for (const [label, target] of [
    ['catalog (direct)', direct],
    ['gateway (embedded)', gateway],
  ] as const) {
    const r = best(target)
    rows.push([label, String(Math.round(r.req)), String(r.p50), String(r.p99), `${r.errors}/${r.non2xx}`])
  }
  printTable(rows)
  const ratio = best(gateway).req / best(direct).req
  console.log(`\ngateway/direct throughput: ${(ratio * 100).toFixed(1)}% (aim ≥ 70%)`)
  console.log(
    `mosaic start ready in ${Math.round(gateway.readyMs)} ms from spawn, fresh data dir (aim < 3000 ms); catalog alone ${Math.round(direct.readyMs)} ms`,
  )
}

await runBench(main)
