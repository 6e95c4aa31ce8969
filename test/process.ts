// Spawning Mosaic processes for tests: wait for their URL, kill them, always clean up.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'

export interface Child {
  readonly url: string
  /** Where its /metrics answers (METRICS_PORT), from its ready line: `"metrics":"…"` or `METRICS <url>`. */
  readonly metricsUrl: string
  readonly process: ChildProcess
  output(): string
  /** Resolves with the first match of `pattern` in the output, waiting for it if need be. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** SIGKILL (a crash) or SIGTERM (a graceful stop); resolves with the exit code or signal. */
  kill(signal?: NodeJS.Signals): Promise<number | string>
}

const node = process.execPath

/** The `mosaic` command's entry file. */
export const cli = join(import.meta.dirname, '..', 'src', 'cli', 'mosaic.ts')

/** Starts `args` with Node and resolves once it prints `READY <url>` (or a `"url"` log line). */
export async function spawnNode(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Child> {
  const child = spawn(node, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const onData = (chunk: Buffer): void => {
    output += chunk.toString()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)

  function waitFor(pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = pattern.exec(output)
        if (match) {
          done()
          resolve(match)
        }
        return Boolean(match)
      }
      const onExit = (code: number | null, signal: string | null): void => {
        done()
        reject(new Error(`exited with ${code ?? signal} before printing ${pattern}:\n${output}`))
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${pattern} within ${ms} ms:\n${output}`))
      }, ms)
      const done = (): void => {
        clearTimeout(timer)
        child.stdout!.off('data', check)
        child.stderr!.off('data', check)
        child.off('exit', onExit)
      }
      if (check()) return
      if (child.exitCode !== null || child.signalCode !== null) return onExit(child.exitCode, child.signalCode)
      // Listeners added after onData, so `output` already holds the chunk when they run.
      child.stdout!.on('data', check)
      child.stderr!.on('data', check)
      child.once('exit', onExit)
    })
  }

  const ready = await waitFor(/READY (\S+)|"url":"(http[^"]+)"/, timeoutMs).catch((error: unknown) => {
    child.kill('SIGKILL') // never leave a half-started process behind
    throw error
  })
  const metrics = /"metrics":"(http[^"]+)"|METRICS (\S+)/.exec(output)
  return {
    url: ready[1] ?? ready[2]!,
    get metricsUrl() {
      if (!metrics) throw new Error(`no metrics address in the ready line:\n${output}`)
      return metrics[1] ?? metrics[2]!
    },
    process: child,
    output: () => output,
    waitFor,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!
      const exited = once(child, 'exit')
      child.kill(signal)
      const [code, sig] = (await exited) as [number | null, string | null]
      return code ?? sig!
    },
  }
}

export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `args` with Node to completion (a command, or a process that should refuse to start). */
export async function runNode(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Finished> {
  const child = spawn(node, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const [code] = (await once(child, 'close')) as [number | null]
  return { code, stdout, stderr }
}

/** The JSON log lines in a process's output, parsed; anything else is skipped. */
export function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>]
      } catch {
        return []
      }
    })
}

/** A fresh directory for a process's data, removed when the test `t` ends. */
export async function tempDataDir(
  t: { after(fn: () => Promise<void>): void },
  prefix = 'mosaic-test-',
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A port nothing listens on (free for a server a test starts, or refusing connections). */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts several processes at once; if one fails, the others are killed (none left running) and its error thrown. */
export async function spawnNodes(starts: readonly Promise<Child>[]): Promise<Child[]> {
  const results = await Promise.allSettled(starts)
  const failed = results.find((r) => r.status === 'rejected')
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<Child>).value)
  for (const r of results) if (r.status === 'fulfilled') await r.value.kill()
  throw failed.reason
}
