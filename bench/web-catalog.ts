// The shop's catalog page, server-rendered through the gateway (`GET /`: one in-process call to
// the API, then Eta), against the JSON product list it is built from (`GET /api/products` with
// the same query), on the same `mosaic start` process, one after the other so they never share
// the CPU. Aim: the page at least 0.8× the list's req/s.
// Run with `node bench/web-catalog.ts`; BENCH_DURATION (s), BENCH_CONNECTIONS, BENCH_ROUNDS tune it.
import { cpus } from 'node:os'
import autocannon from 'autocannon'
import { spawnReady, printTable, runBench, type Cleanup } from './children.ts'

const duration = Number(process.env.BENCH_DURATION ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const warmup = 2
const targets = [
  { label: 'JSON list (GET /api/products?limit=12&sort=name)', path: '/api/products?limit=12&sort=name', type: /json/ },
  { label: 'catalog page (GET /, HTML)', path: '/', type: /html/ },
] as const

interface Run {
  req: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

async function load(url: string): Promise<Run> {
  // A browser's Accept, so that `/` renders the page; the API answers JSON whatever it says.
  const headers = { accept: 'text/html,application/xhtml+xml' }
  await autocannon({ url, connections, duration: warmup, headers })
  const r = await autocannon({ url, connections, duration, headers })
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
    `load: ${connections} connections, ${warmup} s warm-up + ${duration} s, ${rounds} round(s), best run per target\n`,
  )
  const gateway = await spawnReady('gateway', ['start'], 'PORT', cleanup, { METRICS_PORT: '0' })
  for (const target of targets) {
    const res = await fetch(gateway.url + target.path, { headers: { accept: 'text/html' } })
    const body = await res.text()
    if (
      res.status !== 200 ||
      !target.type.test(res.headers.get('content-type') ?? '') ||
      !body.includes('Wireless Mouse')
    )
      throw new Error(
        `GET ${target.path} answered ${res.status} ${res.headers.get('content-type')}; is the demo seed on?`,
      )
  }
  const runs = new Map<string, Run[]>(targets.map((t) => [t.path, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const run = await load(gateway.url + target.path)
      runs.get(target.path)!.push(run)
      console.log(`  round ${round} ${target.path.padEnd(34)} ${Math.round(run.req)} req/s`)
    }
  }
  const best = (path: string): Run => runs.get(path)!.reduce((a, b) => (b.req > a.req ? b : a))
  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx']]
  for (const target of targets) {
    const r = best(target.path)
    rows.push([target.label, String(Math.round(r.req)), String(r.p50), String(r.p99), `${r.errors}/${r.non2xx}`])
  }
  printTable(rows)
  const ratio = best('/').req / best(targets[0].path).req
  console.log(`\ncatalog page / JSON list throughput: ${ratio.toFixed(2)}× (aim ≥ 0.8×)`)
}

await runBench(main)
