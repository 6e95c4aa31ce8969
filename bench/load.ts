// The load side shared by the HTTP benchmarks (catalog-read.ts, gateway-proxy.ts, read-path.ts):
// autocannon in this process, a warm-up then the measured run, and rounds that take each target
// in turn so that a neighbour's load on a shared machine hits all alike, each keeping its best.
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import autocannon from 'autocannon'

/** CPU time a process has used, ms (utime + stime of Linux's /proc/<pid>/stat, in 10 ms ticks). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export interface Run {
  readonly req: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
  readonly non2xx: number
  /**
   * CPU ms the target's processes (`Target.pids`) spent per answered request: on a shared machine
   * req/s follow the neighbours' load, CPU per request much less.
   */
  readonly cpuMs: number
}

export interface LoadOptions {
  readonly connections: number
  /** Seconds measured, after `warmup` seconds that are not. */
  readonly duration: number
  readonly warmup: number
}

export interface Target {
  readonly label: string
  readonly url: string
  readonly headers?: Record<string, string>
  /** The processes that serve it, whose CPU time is counted. */
  readonly pids?: readonly number[]
}

export async function measure(target: Target, options: LoadOptions): Promise<Run> {
  const { url, headers = {}, pids = [] } = target
  const cpu = (): number => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0)
  await autocannon({ url, connections: options.connections, duration: options.warmup, headers })
  const before = cpu()
  const r = await autocannon({ url, connections: options.connections, duration: options.duration, headers })
  return {
    cpuMs: pids.length ? (cpu() - before) / Math.max(1, r.requests.total) : NaN,
    req: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  }
}

/** Each target once per round, in turn; the best run of each (by req/s), by label. */
export async function bestOfRounds(
  targets: readonly Target[],
  rounds: number,
  options: LoadOptions,
): Promise<Map<string, Run>> {
  const best = new Map<string, Run>()
  const width = Math.max(...targets.map((t) => t.label.length))
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const run = await measure(target, options)
      if (!best.has(target.label) || run.req > best.get(target.label)!.req) best.set(target.label, run)
      console.log(`  round ${round} ${target.label.padEnd(width)} ${Math.round(run.req)} req/s`)
    }
  }
  return best
}

/** The first lines every benchmark prints: the machine, and how busy it was. */
export function describeMachine(): string {
  const cpu = cpus()
  return `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}; load average (1 min) ${loadavg()[0]!.toFixed(1)}`
}

/** Fails the benchmark early when a target does not answer 200: figures of error pages are no figures. */
export async function expectOk(url: string, headers: Record<string, string> = {}): Promise<void> {
  const response = await fetch(url, { headers })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
}
