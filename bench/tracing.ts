// The cost of tracing: the same system with tracing off (RECENT_TRACES=0 and no
// OTEL_EXPORTER_OTLP_ENDPOINT: spans are not recorded), with the default ring of recent traces for
// the operator console (RECENT_TRACES=100: at most RECENT_TRACES_PER_SECOND traces a second
// recorded, kept in memory, nothing sent), and
// exported (every span also sent over OTLP/HTTP to a receiver in this process), side by side in one
// run: embedded read throughput (GET /api/products/:id through `mosaic start`) and checkout
// throughput (orders placed end to end). Aim: tracing on costs at most 15 %.
// The system under test is pinned to core 0, this process (load and receiver) to core 1.
// Run with `node bench/tracing.ts`; BENCH_DURATION (s), BENCH_CONNECTIONS, BENCH_CLIENTS tune it.
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import { spawnReady, printTable, runBench, type Child, type Cleanup } from './children.ts'
import { checkout, admin } from './checkout.ts'

const run = promisify(execFile)
const duration = Number(process.env.BENCH_DURATION ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const path = '/api/products/prod-mouse'

/** Pins `pid` (all its threads) to `core`, when taskset is there. */
const pin = (pid: number, core: number): Promise<boolean> =>
  run('taskset', ['-a', '-cp', String(core), String(pid)]).then(
    () => true,
    () => false,
  )

/** A stand-in collector: accepts OTLP/HTTP exports and counts their bytes. */
async function receiver(cleanup: Cleanup): Promise<{ url: string; bytes: () => number }> {
  let bytes = 0
  const server = createServer((request, response) => {
    request
      .on('data', (chunk: Buffer) => {
        bytes += chunk.length
      })
      .on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => new Promise((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bytes: () => bytes }
}

async function reads(target: Child): Promise<number> {
  await autocannon({ url: target.url + path, connections, duration: 2 })
  const r = await autocannon({ url: target.url + path, connections, duration })
  if (r.non2xx + r.errors > 0) throw new Error(`${target.name}: ${r.non2xx} non-2xx, ${r.errors} errors`)
  return r.requests.average
}

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  const pinned = await pin(process.pid, 1)
  console.log(
    `${pinned ? 'system under test on core 0, load and receiver on core 1' : 'taskset unavailable: not pinned'}; ${duration} s per measurement\n`,
  )
  const collector = await receiver(cleanup)
  const env = { ...admin, ORDERS_SAGA_POLL_MS: '200', METRICS_PORT: '0' }

  const rows = [['measurement', 'off', 'recent ring (default)', 'ring ÷ off', 'exported', 'exported ÷ off']]
  for (const [label, measure] of [
    ['reads/s (GET /api/products/:id)', reads],
    ['confirmed checkouts/s', async (t: Child) => (await checkout(t)).perSecond],
  ] as const) {
    const results: number[] = []
    for (const [name, extra] of [
      ['off', { RECENT_TRACES: '0' }],
      ['ring', {}],
      ['exported', { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }],
    ] as const) {
      // One system at a time, fresh, so the two never share the core.
      const target = await spawnReady(`tracing-${name}`, ['start'], 'PORT', cleanup, { ...env, ...extra })
      if (pinned) await pin(target.pid, 0)
      results.push(await measure(target))
      await target.stop()
      console.log(`  ${label}, tracing ${name}: ${results.at(-1)!.toFixed(1)}`)
    }
    const ratio = (n: number) => `${((n / results[0]!) * 100).toFixed(1)}%`
    rows.push([
      label,
      results[0]!.toFixed(1),
      results[1]!.toFixed(1),
      ratio(results[1]!),
      results[2]!.toFixed(1),
      ratio(results[2]!),
    ])
  }
  printTable(rows)
  console.log(
    `\nexported ${(collector.bytes() / 1e6).toFixed(1)} MB of spans (OTLP/HTTP JSON); aim: each ≥ 85 % of off`,
  )
}

await runBench(main)
