// CPU time of processes, from Linux's /proc: a benchmark's per-order cost of the server under test
// (the Node process) and of the PostgreSQL backends serving its database.
import { readFile } from 'node:fs/promises'

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux Node supports). */
const TICKS_PER_SECOND = 100

/** User + system CPU milliseconds `pid` has used so far; 0 once it has gone. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return 0
  // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
}

/** The summed CPU milliseconds of several processes. */
export async function totalCpuMs(pids: readonly number[]): Promise<number> {
  return (await Promise.all(pids.map(cpuMs))).reduce((a, b) => a + b, 0)
}
