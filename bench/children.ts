// Spawning Mosaic processes for benchmarks: a fresh data directory, ready when /health/ready says
// so, stopped gracefully; and a runner that cleans up however the benchmark ends.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_FLAGS } from '../src/runtime/node-flags.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const nodeBin = join(root, 'node_modules/.bin/node')

export type Cleanup = (() => Promise<void>)[]

/**
 * The system under test runs on core 0 and the load generator (this process) on the last core,
 * so they never compete for one (`taskset`, Linux; BENCH_PIN=false or a single core turns it off).
 */
export const pinned = process.env.BENCH_PIN !== 'false' && cpus().length > 1 && process.platform === 'linux'
const pinPrefix = pinned ? ['taskset', '-c', '0'] : []

/** Resident memory of a process, MiB (Linux /proc). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

export interface Child {
  readonly name: string
  readonly url: string
  readonly pid: number
  readonly readyMs: number
  stop(): Promise<void>
}

/** A port nothing listens on now (tests use it too, for servers that take no port 0). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

/**
 * Spawns `mosaic <args>` (or another `script`, a peer) with a fresh DATA_DIR, pinned to core 0, and
 * resolves once /health/ready answers 200.
 */
export async function spawnReady(
  name: string,
  args: string[],
  portVar: string,
  cleanup: Cleanup,
  env: Record<string, string> = {},
  script = 'bin/mosaic.js',
): Promise<Child> {
  const port = await freePort()
  const dataDir = env.DATA_DIR ?? (await mkdtemp(join(tmpdir(), `mosaic-bench-${name}-`)))
  if (!env.DATA_DIR) cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
  const started = performance.now()
  const [command, ...prefix] = [...pinPrefix, nodeBin]
  // Mosaic as `npm start` runs it: its Node flags on the command line (bin/mosaic.js would re-exec for them).
  const flags = script === 'bin/mosaic.js' ? NODE_FLAGS : []
  const child = spawn(command!, [...prefix, ...flags, script, ...args], {
    cwd: root,
    // A process serving one service alone needs the secret callers are signed with.
    // Load comes from one address: the default rate limit (1000 a minute) would measure the 429s.
    env: {
      ...process.env,
      MOSAIC_INTERNAL_SECRET: 'bench-only-secret-bench-only-secret',
      RATE_LIMIT_MAX: '1000000000',
      // Not on the request path, and its fixed default port (9464) clashes between parallel benchmarks.
      METRICS_PORT: 'off',
      ...env,
      [portVar]: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Keep the tail of the child's output to explain a failure; drain the pipes so it never blocks.
  let output = ''
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = once(child, 'exit')
  const stop = (): Promise<void> => stopChild(name, child, exited)
  cleanup.push(stop)

  const url = `http://127.0.0.1:${port}`
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${name} exited before it was ready:\n${output}`)
    if (performance.now() - started > 30_000) throw new Error(`${name} was not ready after 30 s:\n${output}`)
    const status = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.status,
      () => 0,
    )
    if (status === 200) return { name, url, pid: child.pid!, readyMs: performance.now() - started, stop }
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
    if (child.exitCode !== 0)
      console.error(`note: ${name} exited with ${child.exitCode ?? child.signalCode} on SIGTERM`)
  }
}

/** Prints rows as an aligned table, the first column left-aligned. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  console.log(
    '\n' +
      rows
        .map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
        .join('\n'),
  )
}

/** Runs a benchmark; children and temp dirs go away however it ends: success, error, or Ctrl-C. */
export async function runBench(main: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  if (pinned) execFileSync('taskset', ['-cp', String(cpus().length - 1), String(process.pid)], { stdio: 'ignore' })
  const cleanup: Cleanup = []
  const cleanUp = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse())
      await step().catch((error: unknown) => console.error('cleanup:', error))
  }
  process.once('SIGINT', () => {
    void cleanUp().then(() => process.exit(130))
  })
  try {
    await main(cleanup)
  } catch (error) {
    console.error(error)
    process.exitCode = 1
  } finally {
    await cleanUp()
  }
}
