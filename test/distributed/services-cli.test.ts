// `mosaic services start|status|stop` with real processes: two catalog replicas on one
// PostgreSQL database behind a gateway alone, found through NATS KV; stop leaves no process; a
// process that cannot start stops the others and is named with its reason.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { cli, runNode } from '../process.ts'
import { natsNamespace } from '../infra.ts'
import { alive } from '../../src/runtime/data-dir.ts'

const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const database = `mosaic_test_${process.pid}_${randomBytes(4).toString('hex')}`
const bucket = `mosaic_test_${randomBytes(4).toString('hex')}`
const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-services-'))
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database ${database}`)
const databaseUrl = new URL(adminUrl)
databaseUrl.pathname = `/${database}`

const env = {
  DATA_DIR: dataDir,
  PORT: '0',
  NATS_URL,
  NATS_NAMESPACE: natsNamespace({ after: (fn) => after(fn) }),
  DISCOVERY_BUCKET: bucket,
  LOG_LEVEL: 'warn', // readiness does not depend on what the log says (MOSAIC_READY_FILE)
  MOSAIC_INTERNAL_SECRET: '',
}
const mosaic = (args: string[], extra: Record<string, string> = {}) =>
  runNode([cli, ...args], { ...env, ...extra }, 180_000)

after(async () => {
  await mosaic(['services', 'stop'])
  await admin.unsafe(`drop database if exists ${database} with (force)`)
  await admin.end({ timeout: 5 })
  const nc = await connect({ servers: NATS_URL })
  await (await new Kvm(nc).open(bucket)).destroy().catch(() => {})
  await nc.close()
  await rm(dataDir, { recursive: true, force: true })
})

interface Status {
  name: string
  replica: number
  pid: number
  url: string
  health: string
  draining: boolean
  breakers: Record<string, string>
}

test('services start, status and stop: two catalog replicas and a gateway, and nothing left after', async () => {
  const refused = await mosaic(['services', 'start', 'catalog', '--replicas', 'catalog=2'], { DATABASE_URL: '' })
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /2 replicas of catalog must share a PostgreSQL database/)

  const started = await mosaic(['services', 'start', 'catalog', 'gateway', '--replicas', 'catalog=2,gateway=1'], {
    DATABASE_URL: databaseUrl.toString(),
  })
  assert.equal(started.code, 0, started.stderr)
  assert.match(started.stdout, /catalog-1 .*\n.*catalog-2 .*\n.*gateway-1 /)

  const status = await mosaic(['services', 'status', '--json'])
  const processes = JSON.parse(status.stdout) as Status[]
  assert.deepEqual(
    processes.map((p) => `${p.name}-${p.replica}`),
    ['gateway-1', 'catalog-1', 'catalog-2'],
  )
  for (const p of processes) assert.ok(alive(p.pid))
  const gateway = processes[0]!
  // Degraded (identity and the rest are not running), with both catalog replicas' breakers closed.
  assert.equal(gateway.health, 'warn (degraded)')
  assert.deepEqual(
    Object.values(gateway.breakers).filter((_, i) => Object.keys(gateway.breakers)[i]!.startsWith('catalog ')),
    ['closed', 'closed'],
  )
  const table = await mosaic(['services', 'status'])
  assert.match(table.stdout, /^service +instance +pid +address +health +draining/)
  assert.match(table.stdout, /catalog +catalog-2 +\d+ +http:\/\/127\.0\.0\.1:\d+ +pass +no/)

  const product = await fetch(new URL('/api/products/prod-mouse', gateway.url))
  assert.equal(product.status, 200)

  const stopped = await mosaic(['services', 'stop'])
  assert.equal(stopped.code, 0, stopped.stderr)
  assert.match(stopped.stdout, /stopped gateway-1, catalog-1, catalog-2/)
  for (const p of processes) assert.equal(alive(p.pid), false, `${p.name}-${p.replica} is gone`)
  assert.deepEqual(
    (await readdir(join(dataDir, 'services'))).filter((f) => f.endsWith('.pid')),
    [],
  )
})

test('a process that cannot start: the others are stopped, and it is named with its reason', async () => {
  const failed = await mosaic(['services', 'start', 'catalog', 'orders'], {
    DATABASE_URL: databaseUrl.toString(),
    ORDERS_SAGA_TIMEOUT_MS: 'soon',
  })
  assert.equal(failed.code, 1)
  assert.match(failed.stderr, /orders-1 exited with 1 while starting/)
  assert.match(failed.stderr, /ORDERS_SAGA_TIMEOUT_MS/)
  assert.equal(
    (await mosaic(['services', 'status', '--json'])).stdout.trim(),
    '[]',
    'catalog, started first, was stopped again',
  )
})
