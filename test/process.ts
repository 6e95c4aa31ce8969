// Spawning Mosaic processes for tests: wait for their URL, kill them, always clean up.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

export interface Child {
  readonly url: string
  readonly process: ChildProcess
  output(): string
  /** SIGKILL (a crash) or SIGTERM (a graceful stop); resolves with the exit code or signal. */
  kill(signal?: NodeJS.Signals): Promise<number | string>
}

const node = process.execPath

/** Starts `args` with Node and resolves once it prints `READY <url>` (or a `"url"` log line). */
export async function spawnNode(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Child> {
  const child = spawn(node, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY within ${timeoutMs} ms:\n${output}`)), timeoutMs)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /READY (\S+)/.exec(output) ?? /"url":"(http[^"]+)"/.exec(output)
      if (match) { clearTimeout(timer); resolve(match[1]!) }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before READY:\n${output}`)) })
  })
  return {
    url,
    process: child,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!
      const exited = once(child, 'exit')
      child.kill(signal)
      const [code, sig] = await exited as [number | null, string | null]
      return code ?? sig!
    },
  }
}
