// The calling side's loop, the same for Mosaic and the peer: `inFlight` calls kept going for
// `seconds`, each latency recorded; prints one JSON line for bench/service-calls.ts, with the CPU
// time per call of this process and of the callee (SERVER_PID, from Linux's /proc): on a shared
// machine, calls/s follow the neighbours' load, CPU per call much less.
import { readFileSync } from 'node:fs'

/** CPU time of a process so far, ms (utime + stime in /proc/<pid>/stat, in ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  if (!pid) return NaN
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
const ownCpuMs = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
export async function callLoop(
  call: (n: number) => Promise<unknown>,
  inFlight: number,
  seconds: number,
): Promise<void> {
  const warmupEnd = Date.now() + 2_000
  while (Date.now() < warmupEnd) await Promise.all(Array.from({ length: inFlight }, (_, i) => call(i)))
  const latencies: number[] = []
  let errors = 0
  const end = Date.now() + seconds * 1000
  const started = performance.now()
  const serverPid = Number(process.env.SERVER_PID ?? 0)
  const cpuBefore = [ownCpuMs(), cpuMsOf(serverPid)] as const
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      for (let n = worker; Date.now() < end; n += inFlight) {
        const t = performance.now()
        try {
          await call(n)
          latencies.push(performance.now() - t)
        } catch {
          errors++
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  const calls = latencies.length
  const callerCpuMs = (ownCpuMs() - cpuBefore[0]) / calls
  const calleeCpuMs = (cpuMsOf(serverPid) - cpuBefore[1]) / calls
  latencies.sort((a, b) => a - b)
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN
  console.log(
    JSON.stringify({ perSecond: calls / elapsed, p50: at(0.5), p99: at(0.99), errors, callerCpuMs, calleeCpuMs }),
  )
}
