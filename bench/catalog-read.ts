// Read benchmark: GET /api/products/:id against the catalog service served alone and through the
// embedded gateway (`mosaic start`), one target at a time so they never share the CPU.
// Run with `npm run bench`; BENCH_DURATION (s), BENCH_CONNECTIONS and BENCH_ROUNDS tune it.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const root = fileURLToPath(new URL('..', import.meta.url))
const nodeBin = join(root, 'node_modules/.bin/node')
const duration = Number(process.env.BENCH_DURATION ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const warmup = 2
const path = '/api/products/prod-mouse'

interface Child {
  readonly name: string
  readonly url: string
  readonly readyMs: number
  stop(): Promise<void>
}

interface Run { req: number, p50: number, p99: number, errors: number, non2xx: number }

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

/** Spawns `mosaic <args>` with a fresh DATA_DIR and resolves once /health/ready answers 200. */
async function spawnReady(name: string, args: string[], portVar: string, cleanup: (() => Promise<void>)[]): Promise<Child> {
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `mosaic-bench-${name}-`))
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
  const started = performance.now()
  const child = spawn(nodeBin, ['src/cli/mosaic.ts', ...args], {
    cwd: root,
    env: { ...process.env, [portVar]: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Keep the tail of the child's output to explain a failure; drain the pipes so it never blocks.
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = once(child, 'exit')
  const stop = (): Promise<void> => stopChild(name, child, exited)
  cleanup.push(stop)

  const url = `http://127.0.0.1:${port}`
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before it was ready:\n${output}`)
    if (performance.now() - started > 30_000) throw new Error(`${name} was not ready after 30 s:\n${output}`)
    const status = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status, () => 0)
    if (status === 200) return { name, url, readyMs: performance.now() - started, stop }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** SIGTERM, then wait for the graceful exit (SIGKILL after 15 s). Safe to call twice. */
async function stopChild(name: string, child: ChildProcess, exited: Promise<unknown[]>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
    if (child.exitCode !== 0) console.error(`note: ${name} exited with ${child.exitCode ?? child.signalCode} on SIGTERM`)
  }
}

async function load(target: Child): Promise<Run> {
  await autocannon({ url: target.url + path, connections, duration: warmup })
  const r = await autocannon({ url: target.url + path, connections, duration })
  return { req: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

async function main(cleanup: (() => Promise<void>)[]): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(`load: GET ${path}, ${connections} connections, ${warmup} s warm-up + ${duration} s, ${rounds} round(s), best run per target\n`)

  const direct = await spawnReady('catalog', ['serve', 'catalog'], 'CATALOG_SERVICE_PORT', cleanup)
  const gateway = await spawnReady('gateway', ['start'], 'PORT', cleanup)
  for (const target of [direct, gateway]) {
    const res = await fetch(target.url + path)
    const body = await res.json() as { id?: string }
    if (res.status !== 200 || body.id !== 'prod-mouse') throw new Error(`${target.name}: GET ${path} answered ${res.status}; is the demo seed on?`)
  }

  const runs = new Map<Child, Run[]>([[direct, []], [gateway, []]])
  for (let round = 1; round <= rounds; round++) {
    for (const target of [direct, gateway]) {
      const run = await load(target)
      runs.get(target)!.push(run)
      console.log(`  round ${round} ${target.name.padEnd(8)} ${Math.round(run.req)} req/s`)
    }
  }
  const best = (target: Child): Run => runs.get(target)!.reduce((a, b) => (b.req > a.req ? b : a))

  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx']]
  for (const [label, target] of [['catalog (direct)', direct], ['gateway (embedded)', gateway]] as const) {
    const r = best(target)
    rows.push([label, String(Math.round(r.req)), String(r.p50), String(r.p99), `${r.errors}/${r.non2xx}`])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  console.log('\n' + rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n'))
  const ratio = best(gateway).req / best(direct).req
  console.log(`\ngateway/direct throughput: ${(ratio * 100).toFixed(1)}% (aim ≥ 70%)`)
  console.log(`mosaic start ready in ${Math.round(gateway.readyMs)} ms from spawn, fresh data dir (aim < 3000 ms); catalog alone ${Math.round(direct.readyMs)} ms`)
}

// Children and temp dirs go away however the run ends: success, error, or Ctrl-C.
const cleanup: (() => Promise<void>)[] = []
const cleanUp = async (): Promise<void> => {
  for (const step of cleanup.splice(0).reverse()) await step().catch((error: unknown) => console.error('cleanup:', error))
}
process.once('SIGINT', () => { void cleanUp().then(() => process.exit(130)) })
try {
  await main(cleanup)
} catch (error) {
  console.error(error)
  process.exitCode = 1
} finally {
  await cleanUp()
}
