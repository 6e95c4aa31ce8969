// A private redis-server for tests that stop and start it: its own free port, no persistence,
// never the machine's shared server.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { freePort } from '../bench/children.ts'

export interface PrivateRedis {
  readonly url: string
  start(): Promise<void>
  /** SIGKILL: an outage, not a clean shutdown. */
  stop(): Promise<void>
}

export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      let output = ''
      for await (const chunk of child.stdout!) {
        output += String(chunk)
        if (/Ready to accept connections/.test(output)) break
      }
      child.stdout!.resume()
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
  }
  await redis.start()
  return redis
}
