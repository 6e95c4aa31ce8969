// Service-to-service calls, IN_FLIGHT (50) at once, between two processes: Mosaic (typed client →
// HTTP keep-alive via undici, with balancing and resilience policies) beside Moleculer 0.15 over
// NATS, and beside a plain undici client and Fastify route (what HTTP itself costs per call).
// The callee runs on CPU 0 and the caller on CPU 1, one system at a time.
// Run with `node bench/service-calls.ts`; BENCH_DURATION (s), IN_FLIGHT, NATS_URL tune it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { printTable, runBench, freePort, type Cleanup } from './children.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const node = process.execPath
const inFlight = Number(process.env.IN_FLIGHT ?? 50)
const duration = Number(process.env.BENCH_DURATION ?? 10)

interface Result {
  perSecond: number
  p50: number
  p99: number
  errors: number
  callerCpuMs: number
  calleeCpuMs: number
}

/** Runs `script mode` pinned to `cpu`; resolves with its pid once it prints READY (serve) or its JSON line (call). */
function run(
  script: string,
  mode: 'serve' | 'call',
  cpu: string,
  env: Record<string, string>,
  cleanup: Cleanup,
): Promise<{ line: string; pid: number }> {
  const child = spawn('taskset', ['-c', cpu, node, script, mode], {
    cwd: root,
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      METRICS_PORT: 'off',
      IN_FLIGHT: String(inFlight),
      BENCH_DURATION: String(duration),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  })
  let output = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const line = output.split('\n').find((l) => l.startsWith('READY') || l.startsWith('{"perSecond"'))
      if (line) resolve({ line, pid: child.pid! })
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('exit', (code) => reject(new Error(`${script} ${mode} exited with ${code}:\n${output.slice(-2000)}`)))
  })
}

async function main(cleanup: Cleanup): Promise<void> {
  console.log(`${inFlight} calls in flight, 2 s warm-up + ${duration} s; callee on CPU 0, caller on CPU 1\n`)
  const secret = { MOSAIC_INTERNAL_SECRET: randomBytes(24).toString('hex') }
  const port = await freePort()
  const echo = await run(
    'bench/calls/mosaic-echo.ts',
    'serve',
    '0',
    { ...secret, ECHO_SERVICE_PORT: String(port) },
    cleanup,
  )
  const mosaic = JSON.parse(
    (
      await run(
        'bench/calls/mosaic-echo.ts',
        'call',
        '1',
        { ...secret, ECHO_SERVICE_URL: `http://127.0.0.1:${port}`, SERVER_PID: String(echo.pid) },
        cleanup,
      )
    ).line,
  ) as Result

  const namespace = { MOLECULER_NAMESPACE: `bench-${randomBytes(4).toString('hex')}` }
  const peer = await run('bench/peers/moleculer-echo.ts', 'serve', '0', namespace, cleanup)
  const moleculer = JSON.parse(
    (await run('bench/peers/moleculer-echo.ts', 'call', '1', { ...namespace, SERVER_PID: String(peer.pid) }, cleanup))
      .line,
  ) as Result

  const plainPort = await freePort()
  const plainServer = await run(
    'bench/peers/undici-fastify-echo.ts',
    'serve',
    '0',
    { ECHO_PORT: String(plainPort) },
    cleanup,
  )
  const plain = JSON.parse(
    (
      await run(
        'bench/peers/undici-fastify-echo.ts',
        'call',
        '1',
        { ECHO_URL: `http://127.0.0.1:${plainPort}`, SERVER_PID: String(plainServer.pid) },
        cleanup,
      )
    ).line,
  ) as Result

  const rows = [['system', 'calls/s', 'p50 ms', 'p99 ms', 'errors', 'CPU ms/call: caller', 'callee']]
  for (const [label, r] of [
    ['moleculer 0.15 over NATS', moleculer],
    ['plain undici → Fastify (the transport alone)', plain],
    ['mosaic over HTTP (undici)', mosaic],
  ] as const) {
    rows.push([
      label,
      String(Math.round(r.perSecond)),
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      String(r.errors),
      r.callerCpuMs.toFixed(3),
      r.calleeCpuMs.toFixed(3),
    ])
  }
  printTable(rows)
  console.log(
    `\nmosaic/moleculer: ${(mosaic.perSecond / moleculer.perSecond).toFixed(2)}× calls/s, p99 ${(mosaic.p99 / moleculer.p99).toFixed(2)}× (aim: ≥ 1× calls/s, p99 ≤ 0.33×)`,
  )
}

await runBench(main)
