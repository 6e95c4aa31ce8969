// The `services` subcommands and `mosaic dev`, as the CLI runs them.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { startServices, stopServices, servicesStatus, statusTable, parseReplicas } from './services.ts'
import { ServicesError } from './errors.ts'
import { NODE_FLAGS } from '../runtime/node-flags.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

export async function servicesCommand(
  command: string,
  names: string[],
  options: { replicas?: string[]; json?: boolean; foreground?: boolean },
): Promise<void> {
  const env = process.env
  switch (command) {
    case 'start': {
      const started = await startServices(names, parseReplicas(options.replicas), env)
      for (const p of started)
        console.log(`${`${p.name}-${p.replica}`.padEnd(18)} pid ${String(p.pid).padEnd(8)} ${p.url}   log ${p.log}`)
      if (started.length === 0) console.log('everything asked for is already running')
      if (!options.foreground) return
      // In the foreground (what `mosaic dev --distributed` runs): a signal stops what was started.
      await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')])
      await stopServices(names, env)
      return
    }
    case 'stop': {
      const stopped = await stopServices(names, env)
      console.log(
        stopped.length ? `stopped ${stopped.map((p) => `${p.name}-${p.replica}`).join(', ')}` : 'nothing was running',
      )
      return
    }
    case 'status': {
      const statuses = await servicesStatus(env)
      console.log(options.json ? JSON.stringify(statuses, null, 2) : statusTable(statuses))
      return
    }
    default:
      throw new ServicesError(`services ${command}: expected list, start, status or stop`)
  }
}

/**
 * `mosaic dev`: Node's own --watch restarts the command when a file under src/ or policies/
 * changes (it sends SIGTERM and waits, so the graceful stop runs): `mosaic start`, or with
 * --distributed every service in its own process (`services start --foreground`).
 */
export async function devCommand(distributed: boolean): Promise<void> {
  const command = distributed ? ['services', 'start', '--foreground'] : ['start']
  const child = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      '--watch-path=src',
      '--watch-path=policies',
      '--watch-preserve-output',
      'src/cli/mosaic.ts',
      ...command,
    ],
    { cwd: root, stdio: 'inherit' },
  )
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  process.on('SIGINT', forward('SIGINT'))
  process.on('SIGTERM', forward('SIGTERM'))
  const [code] = (await once(child, 'exit')) as [number | null]
  process.exitCode = code ?? 0
}
