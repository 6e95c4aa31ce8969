// Start and memory of `mosaic start` (embedded, PGlite), beside the embedded database alone
// (bench/peers/pglite-alone.ts) measured in the same run (issue 12): time to /health/ready from
// spawn on a fresh data directory and on a restart, resident memory idle and after a spell of reads.
// Beside each ready time, the CPU the process spent until then (all its threads, /proc): on a busy
// machine the wall-clock times stretch, the CPU much less.
// Run with `node bench/start.ts`; BENCH_LOAD_SECONDS (default 60: the target is memory after a minute of load) sets the spell of load.
import { cpus } from 'node:os'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { spawnReady, printTable, runBench, rssMiB, type Cleanup } from './children.ts'

const loadSeconds = Number(process.env.BENCH_LOAD_SECONDS ?? 60)
/** CPU time a process has used so far, all threads, ms (Linux /proc: utime + stime, in clock ticks of 10 ms). */
const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2_000))

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-bench-start-'))
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }))

  const peer = await spawnReady('pglite alone', [], 'PORT', cleanup, {}, 'bench/peers/pglite-alone.ts')
  const peerCpu = cpuMs(peer.pid)
  await settle()
  const peerRss = await rssMiB(peer.pid)
  await peer.stop()

  const fresh = await spawnReady('mosaic start (fresh)', ['start'], 'PORT', cleanup, {
    DATA_DIR: dataDir,
    METRICS_PORT: 'off',
  })
  const freshCpu = cpuMs(fresh.pid)
  await settle()
  const freshRss = await rssMiB(fresh.pid)
  await fresh.stop()

  const again = await spawnReady('mosaic start (restart)', ['start'], 'PORT', cleanup, {
    DATA_DIR: dataDir,
    METRICS_PORT: 'off',
  })
  const againCpu = cpuMs(again.pid)
  await settle()
  const idleRss = await rssMiB(again.pid)
  // Reads of every kind a shopper makes: products (cached), pages, searches, and misses.
  const paths = [
    '/api/products/prod-mouse',
    '/api/products?limit=5',
    '/api/products/search?q=wireless',
    '/api/products/prod-missing',
    '/api/products?sort=-price&limit=3',
  ]
  let peak = idleRss
  const sampler = setInterval(() => {
    void rssMiB(again.pid).then(
      (rss) => {
        peak = Math.max(peak, rss)
      },
      () => {},
    )
  }, 500)
  const result = await autocannon({
    url: again.url,
    connections: 16,
    duration: loadSeconds,
    requests: paths.map((path) => ({ method: 'GET', path })),
  })
  clearInterval(sampler)
  const loadedRss = await rssMiB(again.pid)
  await again.stop()

  const mb = (n: number): string => n.toFixed(0)
  printTable([
    ['measure', 'mosaic start', 'PGlite alone', 'target'],
    ['ready, fresh data directory (ms)', mb(fresh.readyMs), mb(peer.readyMs), '≤ 2000'],
    ['  CPU until then, all threads (ms)', mb(freshCpu), mb(peerCpu), ''],
    ['ready, restart (ms)', mb(again.readyMs), '', '≤ 1000'],
    ['  CPU until then, all threads (ms)', mb(againCpu), '', ''],
    ['RSS idle, fresh (MiB)', mb(freshRss), mb(peerRss), '≤ 300'],
    ['RSS idle, restart (MiB)', mb(idleRss), '', '≤ 300'],
    [`RSS after ${loadSeconds} s of reads, now / peak (MiB)`, `${mb(loadedRss)} / ${mb(peak)}`, '', '≤ 400'],
  ])
  console.log(
    `\nload: ${Math.round(result.requests.average)} req/s over ${paths.length} read paths, ${result.errors + result.timeouts} errors`,
  )
}

await runBench(main)
