// The servers tests run against: fresh PostgreSQL databases on the local server, a namespace of
// their own on the shared NATS server, and private NATS servers for tests that stop one.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { envPrefix } from '../src/kit/config.ts'

export const POSTGRES_ADMIN_URL = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'

export interface Cleanup {
  after(fn: () => Promise<void>): void
}

const stacks = new WeakMap<Cleanup, (() => Promise<void>)[]>()

/**
 * Runs `fn` when `t` ends, after everything deferred later (last in, first out, as `defer` in Go):
 * a process is stopped before the database or broker it uses goes away. node:test runs `after`
 * hooks in the order they were added.
 */
export function defer(t: Cleanup, fn: () => Promise<unknown>): void {
  let stack = stacks.get(t)
  if (!stack) {
    const fns: (() => Promise<void>)[] = []
    stacks.set(t, (stack = fns))
    t.after(async () => {
      for (const cleanup of fns.reverse()) await cleanup()
    })
  }
  stack.push(async () => {
    await fn()
  })
}

/** A fresh database on the local PostgreSQL server, dropped when `t` ends. */
export async function freshDatabase(t: Cleanup, prefix = 'mosaic_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  defer(t, async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end({ timeout: 5 })
  })
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** A NATS_NAMESPACE of the test's own on `url`; its streams are deleted when `t` ends. */
export function natsNamespace(t: Cleanup, url = NATS_URL): string {
  const namespace = `t${randomBytes(5).toString('hex')}`
  defer(t, async () => {
    const nc = await connect({ servers: url, maxReconnectAttempts: 5 }).catch(() => undefined)
    if (!nc) return
    const jsm = await jetstreamManager(nc)
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${envPrefix(namespace)}_`) || name === `KV_${namespace}_instances`)
        await jsm.streams.delete(name)
    }
    await nc.close()
  })
  return namespace
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

export interface PrivateNats {
  readonly url: string
  /** Stops the server (SIGTERM by default) and starts it again on the same port and store. */
  restart(downMs?: number): Promise<void>
  stop(): Promise<void>
}

/** A NATS server with JetStream of the test's own (its own port and store), for tests that stop it. */
export async function privateNats(t: Cleanup): Promise<PrivateNats> {
  const port = await freePort()
  const store = await mkdtemp(join(tmpdir(), 'mosaic-nats-'))
  const url = `nats://127.0.0.1:${port}`
  let server: ReturnType<typeof spawn> | undefined
  const start = async (): Promise<void> => {
    server = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let log = ''
    server.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString()
    })
    for (const until = Date.now() + 10_000; !/Server is ready/.test(log); ) {
      if (Date.now() > until || server.exitCode !== null) throw new Error(`nats-server did not start:\n${log}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  const stop = async (): Promise<void> => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return
    const exited = once(server, 'exit')
    server.kill('SIGTERM')
    await exited
  }
  await start()
  defer(t, async () => {
    await stop()
    await rm(store, { recursive: true, force: true })
  })
  return {
    url,
    stop,
    async restart(downMs = 500) {
      await stop()
      await new Promise((resolve) => setTimeout(resolve, downMs))
      await start()
    },
  }
}
