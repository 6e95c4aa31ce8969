// The parity scenario against the distributed system as an operator runs it: `mosaic services
// start` starts every service in a process of its own (catalog and orders two replicas each,
// sharing their service's database and outbox; one relays at a time, the orders replicas lease the
// checkout sagas), each service on a fresh PostgreSQL database of its own, events over NATS
// JetStream and discovery in NATS KV under a namespace of the run's own, and a gateway that runs
// no service itself. `mosaic services stop` stops it all and must leave no process behind.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, runNode } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { defer, freshDatabase, natsNamespace } from '../infra.ts'
import { topology } from '../../src/runtime/topology.ts'
import { envPrefix } from '../../src/kit/config.ts'
import type { Running } from '../../src/cli/services.ts'
import { scenario } from './scenario.ts'
import { alive } from '../../src/runtime/data-dir.ts'

scenario(
  'distributed: `mosaic services start`, PostgreSQL databases of their own, NATS JetStream',
  async (cleanup, env) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-parity-'))
    defer(cleanup, () => rm(dataDir, { recursive: true, force: true }))
    /** Processes `services stop` left alive: killed at once, reported last (after every cleanup ran). */
    let survivors: Running[] = []
    defer(cleanup, async () =>
      assert.deepEqual(
        survivors.map((p) => `${p.name}-${p.replica} (pid ${p.pid})`),
        [],
        '`mosaic services stop` left no process',
      ),
    )
    const names = topology.map((s) => s.definition.contract.name as string)
    const databases = Object.fromEntries(
      await Promise.all(
        names.map(
          async (name) =>
            [`${envPrefix(name)}_DATABASE_URL`, await freshDatabase(cleanup, `mosaic_parity_${name}`)] as const,
        ),
      ),
    )
    const common: Record<string, string> = {
      ...env,
      ...databases,
      NATS_NAMESPACE: natsNamespace(cleanup),
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      DATA_DIR: dataDir,
      // The replicas' read caches drop what another replica changed when Redis tells them (docs/cache.md).
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    }
    const mosaic = (...args: string[]) => runNode([cli, 'services', ...args], common, 240_000)

    // Registered before the start, so that a start that fails half-way is stopped too.
    let processes: Running[] = []
    defer(cleanup, async () => {
      const stopped = await mosaic('stop')
      survivors = processes.filter((p) => alive(p.pid))
      for (const p of survivors) process.kill(p.pid, 'SIGKILL')
      assert.equal(stopped.code, 0, stopped.stderr)
    })
    const started = await mosaic('start', '--replicas', 'catalog=2', '--replicas', 'orders=2')
    assert.equal(started.code, 0, started.stderr)
    const status = await mosaic('status', '--json')
    assert.equal(status.code, 0, status.stderr)
    processes = JSON.parse(status.stdout) as Running[]
    assert.deepEqual(
      processes.map((p) => `${p.name}-${p.replica}`).sort(),
      [
        'gateway-1',
        ...names.flatMap((name) =>
          name === 'catalog' || name === 'orders' ? [`${name}-1`, `${name}-2`] : [`${name}-1`],
        ),
      ].sort(),
    )
    return processes.find((p) => p.name === 'gateway')!.url
  },
)
