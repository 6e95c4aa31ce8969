// `mosaic services start|stop|status`: the system as processes on this machine, a gateway alone
// and a process per service replica, in distributed mode (NATS for discovery and events,
// PostgreSQL and Redis from the environment). Each process logs to DATA_DIR/services/<name>-<n>.log
// and is recorded in a pid file beside it with its address, which `status` and `stop` read.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { envPrefix } from '../kit/config.ts'
import { topology } from '../runtime/topology.ts'
import { ServicesError } from './errors.ts'
import { alive } from '../runtime/data-dir.ts'
import { NODE_FLAGS } from '../runtime/node-flags.ts'
import { askReadiness } from '../kit/internal/readiness-report.ts'

const entry = fileURLToPath(new URL('./mosaic.ts', import.meta.url))
const everything = ['gateway', ...topology.map((s) => s.definition.contract.name)]
const READY_TIMEOUT_MS = 60_000

export interface Running {
  readonly name: string
  readonly replica: number
  readonly pid: number
  readonly url: string
  readonly log: string
}

const runDir = (env: NodeJS.ProcessEnv): string => resolve(env.DATA_DIR || '.mosaic', 'services')

/** The processes recorded in pid files, those whose process is gone forgotten. */
export async function recorded(env: NodeJS.ProcessEnv): Promise<Running[]> {
  const dir = runDir(env)
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.pid'))
  const found: Running[] = []
  for (const file of files) {
    const running = JSON.parse(await readFile(join(dir, file), 'utf8')) as Running
    if (alive(running.pid)) found.push(running)
    else await rm(join(dir, file), { force: true })
  }
  return found.sort((a, b) => everything.indexOf(a.name) - everything.indexOf(b.name) || a.replica - b.replica)
}

function checkNames(names: readonly string[]): void {
  for (const name of names)
    if (!everything.includes(name)) throw new ServicesError(`no service ${name}: name some of ${everything.join(', ')}`)
}

/** `--replicas catalog=2,orders=2` (or repeated: `--replicas catalog=2 --replicas orders=2`) → { catalog: 2, orders: 2 }. */
export function parseReplicas(values: readonly string[] = []): Record<string, number> {
  const replicas: Record<string, number> = {}
  for (const value of values.flatMap((v) => v.split(','))) {
    const match = /^([a-z][a-z0-9-]*)=([1-9][0-9]?)$/.exec(value)
    if (!match) throw new ServicesError(`--replicas ${value}: expected name=N (N from 1 to 99)`)
    checkNames([match[1]!])
    replicas[match[1]!] = Number(match[2])
  }
  return replicas
}

/** The variables every process gets: distributed mode, and one internal secret kept for later starts. */
async function distributedEnv(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const dir = runDir(env)
  let secret = env.MOSAIC_INTERNAL_SECRET
  if (!secret) {
    const file = join(dir, 'internal-secret')
    secret = await readFile(file, 'utf8').catch(() => undefined)
    if (!secret) await writeFile(file, (secret = randomBytes(32).toString('hex')), { mode: 0o600 })
  }
  return {
    ...env,
    BUS: env.BUS || 'nats',
    DISCOVERY: env.DISCOVERY || 'nats',
    MOSAIC_INTERNAL_SECRET: secret,
    LOG_PRETTY: 'false',
  }
}

/** Starts a process and resolves once its /health/ready answers 200; rejects with the reason and its log's tail. */
async function launch(name: string, replica: number, env: NodeJS.ProcessEnv): Promise<Running> {
  const dir = runDir(env)
  const log = join(dir, `${name}-${replica}.log`)
  const out = await open(log, 'a')
  const from = (await out.stat()).size // the log is kept across runs: read only this run's lines
  const readyFile = join(dir, `${name}-${replica}.ready`)
  await rm(readyFile, { force: true })
  const own: NodeJS.ProcessEnv = {
    ...(name === 'gateway'
      ? { DATA_DIR: join(dir, 'gateway') }
      : { [`${envPrefix(name)}_SERVICE_PORT`]: '0', DATA_DIR: join(dir, name) }),
    MOSAIC_READY_FILE: readyFile,
  }
  const child = spawn(process.execPath, [...NODE_FLAGS, entry, 'serve', name], {
    env: { ...env, ...own },
    stdio: ['ignore', out.fd, out.fd],
    detached: true,
  })
  child.unref()
  await out.close()
  const started = Date.now()
  const tail = async (): Promise<string> =>
    (await readFile(log)).subarray(from).toString().trim().split('\n').slice(-5).join('\n')
  for (;;) {
    await sleep(100)
    if (child.exitCode !== null || child.signalCode !== null)
      throw new ServicesError(
        `${name}-${replica} exited with ${child.exitCode ?? child.signalCode} while starting:\n${await tail()}`,
      )
    if (Date.now() - started > READY_TIMEOUT_MS) {
      child.kill('SIGKILL')
      throw new ServicesError(`${name}-${replica} was not ready after ${READY_TIMEOUT_MS / 1000} s:\n${await tail()}`)
    }
    const ready = await readFile(readyFile, 'utf8').catch(() => undefined)
    const url = ready ? (JSON.parse(ready) as { url: string }).url : undefined
    if (!url) continue
    const status = await fetch(new URL('/health/ready', url), { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.status,
      () => 0,
    )
    if (status !== 200) continue
    await rm(readyFile, { force: true })
    const running: Running = { name, replica, pid: child.pid!, url, log }
    await writeFile(join(dir, `${name}-${replica}.pid`), JSON.stringify(running))
    return running
  }
}

/**
 * Starts `names` (all, gateway last, when none are named) with their replicas, unless already
 * running. Resolves once every process is ready; if one fails, stops all it started and says why.
 */
export async function startServices(
  names: readonly string[],
  replicas: Record<string, number>,
  env: NodeJS.ProcessEnv,
): Promise<Running[]> {
  checkNames(names)
  const wanted =
    names.length > 0
      ? [...names].sort((a, b) => Number(a === 'gateway') - Number(b === 'gateway'))
      : [...everything.slice(1), 'gateway']
  for (const [name, count] of Object.entries(replicas)) {
    if (count > 1 && name !== 'gateway' && !env.DATABASE_URL && !env[`${envPrefix(name)}_DATABASE_URL`]) {
      throw new ServicesError(
        `${count} replicas of ${name} must share a PostgreSQL database: set DATABASE_URL (or ${envPrefix(name)}_DATABASE_URL)`,
      )
    }
  }
  await mkdir(runDir(env), { recursive: true })
  const processEnv = await distributedEnv(env)
  const already = await recorded(env)
  const started: Running[] = []
  try {
    for (const name of wanted) {
      // The numbers of replicas gone (killed, crashed) are taken again: a new process never takes
      // the number, pid file and log of one still running.
      const taken = new Set(already.filter((r) => r.name === name).map((r) => r.replica))
      const count = replicas[name] ?? 1
      const missing = Array.from({ length: count }, (_, i) => i + 1)
        .filter((n) => !taken.has(n))
        .slice(0, Math.max(0, count - taken.size))
      // Replicas of one service start together; services one after another (the gateway last).
      started.push(...(await Promise.all(missing.map((n) => launch(name, n, processEnv)))))
    }
    return started
  } catch (error) {
    await stopProcesses(started)
    throw error
  }
}

/** SIGTERM, then wait for each to finish its graceful stop (SIGKILL after `graceMs`). */
async function stopProcesses(processes: readonly Running[], graceMs = 20_000): Promise<void> {
  for (const p of processes) if (alive(p.pid)) process.kill(p.pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  for (const p of processes) {
    while (alive(p.pid)) {
      if (Date.now() > deadline) process.kill(p.pid, 'SIGKILL')
      await sleep(50)
    }
  }
}

/** Stops `names` (all when none are named): the gateway first, so nothing new comes in. */
export async function stopServices(names: readonly string[], env: NodeJS.ProcessEnv): Promise<Running[]> {
  checkNames(names)
  const running = (await recorded(env)).filter((r) => names.length === 0 || names.includes(r.name))
  const gateway = running.filter((r) => r.name === 'gateway')
  await stopProcesses(gateway)
  await stopProcesses(running.filter((r) => r.name !== 'gateway'))
  for (const r of running) await rm(join(runDir(env), `${r.name}-${r.replica}.pid`), { force: true })
  return running
}

export interface Status extends Running {
  readonly health: string
  readonly draining: boolean
  /** Breakers of the upstreams this process calls: instance URL → state. */
  readonly breakers: Record<string, string>
}

export async function servicesStatus(env: NodeJS.ProcessEnv): Promise<Status[]> {
  return Promise.all(
    (await recorded(env)).map(async (r) => {
      const ready = await askReadiness(r.url)
      return {
        ...r,
        health: `${ready.status}${ready.output ? ` (${ready.output})` : ''}`,
        draining: ready.draining,
        breakers: ready.breakers,
      }
    }),
  )
}

export function statusTable(statuses: readonly Status[]): string {
  if (statuses.length === 0) return 'no Mosaic processes are running (start them with `mosaic services start`)'
  const rows = [['service', 'instance', 'pid', 'address', 'health', 'draining', 'breakers not closed']]
  for (const s of statuses) {
    const open = Object.entries(s.breakers)
      .filter(([, state]) => state !== 'closed')
      .map(([at, state]) => `${at} ${state}`)
    rows.push([
      s.name,
      `${s.name}-${s.replica}`,
      String(s.pid),
      s.url,
      s.health,
      s.draining ? 'yes' : 'no',
      open.join(', ') || '-',
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
