// Login flood: does a burst of sign-ins (argon2id, 19 MiB and ~50 ms of CPU each) starve the rest
// of the process? /health/live latency is measured idle and during waves of 50 concurrent logins,
// with the hashing pool bounded (the default) and effectively unbounded (AUTH_HASH_CONCURRENCY=50),
// in one run, one target at a time. The growth of resident memory during the flood shows what
// the bound saves.
// Run with `node bench/login-flood.ts`; BENCH_WAVES tunes it.
import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { spawnReady, printTable, runBench, type Cleanup } from './children.ts'

const waves = Number(process.env.BENCH_WAVES ?? 4)
const flood = 50
const credentials = { email: 'flood@example.com', password: 'a long and private phrase' }

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function timed(url: string): Promise<number> {
  const started = performance.now()
  const res = await fetch(url)
  await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`)
  return performance.now() - started
}

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  await res.arrayBuffer()
  return res.status
}

async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

interface Result {
  label: string
  idleP50: number
  idleP99: number
  floodP50: number
  floodP99: number
  loginsPerSecond: number
  rssGrowthMiB: number
}

async function measure(label: string, env: Record<string, string>, cleanup: Cleanup): Promise<Result> {
  const node = await spawnReady(label, ['start'], 'PORT', cleanup, { ...env, CATALOG_SEED_DEMO: 'false' })
  if ((await post(`${node.url}/api/users`, { ...credentials, name: 'Flood' })) !== 201)
    throw new Error('could not register')
  const health = `${node.url}/health/live`
  const idle: number[] = []
  for (let i = 0; i < 200; i++) idle.push(await timed(health))

  const during: number[] = []
  let flooding = true
  const before = await residentMiB(node.pid)
  let peak = before
  const probe = (async () => {
    while (flooding) during.push(await timed(health))
  })()
  const sampler = setInterval(() => {
    void residentMiB(node.pid).then((mib) => {
      peak = Math.max(peak, mib)
    })
  }, 25)
  const started = performance.now()
  for (let wave = 0; wave < waves; wave++) {
    const statuses = await Promise.all(
      Array.from({ length: flood }, () => post(`${node.url}/api/users/login`, credentials)),
    )
    if (statuses.some((s) => s !== 200))
      throw new Error(`${label}: logins answered ${[...new Set(statuses)].join(', ')}`)
  }
  const seconds = (performance.now() - started) / 1000
  flooding = false
  clearInterval(sampler)
  await probe
  const result = {
    label,
    idleP50: percentile(idle, 0.5),
    idleP99: percentile(idle, 0.99),
    floodP50: percentile(during, 0.5),
    floodP99: percentile(during, 0.99),
    loginsPerSecond: (waves * flood) / seconds,
    rssGrowthMiB: peak - before,
  }
  await node.stop()
  return result
}

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(
    `load: ${waves} waves of ${flood} concurrent logins; /health/live probed one request at a time throughout\n`,
  )
  const results = [
    await measure('bounded (default)', {}, cleanup),
    await measure('unbounded (50)', { AUTH_HASH_CONCURRENCY: '50' }, cleanup),
  ]
  const ms = (v: number): string => v.toFixed(1)
  printTable([
    [
      'hash pool',
      'health p50 idle',
      'p99 idle',
      'p50 flood',
      'p99 flood',
      'p99 flood/idle',
      'logins/s',
      'RSS growth MiB',
    ],
    ...results.map((r) => [
      r.label,
      ms(r.idleP50),
      ms(r.idleP99),
      ms(r.floodP50),
      ms(r.floodP99),
      `${(r.floodP99 / r.idleP99).toFixed(1)}x`,
      r.loginsPerSecond.toFixed(1),
      r.rssGrowthMiB.toFixed(0),
    ]),
  ])
}

await runBench(main)
