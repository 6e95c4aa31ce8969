// Read benchmark: GET /api/products/:id against the catalog service served alone and through the
// embedded gateway (`mosaic start`), one target at a time so they never share the CPU.
// Run with `npm run bench`; BENCH_DURATION (s), BENCH_CONNECTIONS and BENCH_ROUNDS tune it.
import { spawnReady, printTable, runBench, type Cleanup } from './children.ts'
import { bestOfRounds, describeMachine, expectOk, type LoadOptions } from './load.ts'

const options: LoadOptions = {
  duration: Number(process.env.BENCH_DURATION ?? 10),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
  warmup: 2,
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const path = '/api/products/prod-mouse'

async function main(cleanup: Cleanup): Promise<void> {
  console.log(describeMachine())
  console.log(
    `load: GET ${path}, ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s, ${rounds} round(s), best run per target\n`,
  )

  const direct = await spawnReady('catalog', ['serve', 'catalog'], 'CATALOG_SERVICE_PORT', cleanup)
  const gateway = await spawnReady('gateway', ['start'], 'PORT', cleanup)
  for (const target of [direct, gateway]) await expectOk(target.url + path) // 404: is the demo seed on?

  const targets = [
    { label: 'catalog (direct)', url: direct.url + path },
    { label: 'gateway (embedded)', url: gateway.url + path },
  ]
  const best = await bestOfRounds(targets, rounds, options)
  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx']]
  for (const { label } of targets) {
    const r = best.get(label)!
    rows.push([label, String(Math.round(r.req)), String(r.p50), String(r.p99), `${r.errors}/${r.non2xx}`])
  }
  printTable(rows)
  const ratio = best.get(targets[1]!.label)!.req / best.get(targets[0]!.label)!.req
  console.log(`\ngateway/direct throughput: ${(ratio * 100).toFixed(1)}% (aim ≥ 70%)`)
  console.log(
    `mosaic start ready in ${Math.round(gateway.readyMs)} ms from spawn, fresh data dir (aim < 3000 ms); catalog alone ${Math.round(direct.readyMs)} ms`,
  )
}

await runBench(main)
