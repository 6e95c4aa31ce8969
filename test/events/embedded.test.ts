// Outbox → bus → inbox, end to end in one embedded process: each event has one effect,
// failures are retried with backoff, exhausted ones are dead-lettered and can be replayed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import ledger from '../fixtures/ledger.ts'
import { fixtureRoutes } from '../fixtures/routes.ts'
import { adminEnv, login, bearer } from '../auth.ts'
import { MosaicError } from '../../src/kit/errors.ts'
import { redeliver } from '../helpers/bus.ts'
import { eventually } from '../helpers/wait.ts'
import { drained } from '../helpers/drained.ts'

let node: MosaicNode
/** Products are created through the gateway, which lets only staff do it: the admin's token. */
let token: string
const env = {
  DATA_DIR: ':memory:',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'silent',
  CATALOG_SEED_DEMO: 'false',
  EVENT_POLL_MS: '20',
  EVENT_RETRY_BASE_MS: '20',
  EVENT_MAX_ATTEMPTS: '3',
  GATEWAY_ROUTES: fixtureRoutes,
  ...adminEnv,
}

before(async () => {
  node = await startNode({ role: 'gateway', services: [identity, catalog, ledger], env, port: 0 })
  token = (await login(node.url)).accessToken
})
after(() => node?.stop())

const api = (path: string, init?: RequestInit) => fetch(new URL(path, node.url), init)
const post = (body: object) =>
  api('/api/products', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(token) },
    body: JSON.stringify(body),
  })
const ledgerRows = async () =>
  (await api('/api/ledger')).json() as Promise<{ total: number; events: number; duplicates: number }>
const admin = () => node.engine.admin

async function entriesFor(productId: string): Promise<number> {
  const [row] = await admin().query<{ n: bigint }>('select count(*) as n from ledger.entries where product_id = $1', [
    productId,
  ])
  return Number(row!.n)
}

test('each published event reaches the subscriber once', async () => {
  const before = await ledgerRows()
  for (let i = 0; i < 20; i++) assert.equal((await post({ id: `ev-once-${i}`, name: 'Once', price: 1 })).status, 201)
  const after = await eventually('20 more ledger entries', async () => {
    const r = await ledgerRows()
    return r.total >= before.total + 20 && r
  })
  assert.equal(after.total - before.total, 20)
  assert.equal(after.duplicates, 0)
  const [outbox] = await admin().query<{ n: bigint }>('select count(*) as n from catalog.mosaic_outbox')
  assert.equal(outbox!.n, 0n, 'the outbox is drained')
})

test('a redelivered event has no second effect (inbox)', async () => {
  assert.equal((await post({ id: 'ev-redeliver', name: 'Twice', price: 1 })).status, 201)
  await eventually('ev-redeliver handled', async () => (await entriesFor('ev-redeliver')) === 1)
  const [handled] = await admin().query<{ event_id: string }>(
    `select event_id from ledger.mosaic_inbox where subscription = 'ledger/catalog.product.created' order by handled_at desc limit 1`,
  )
  // Put the same event on the bus again, as a broker redelivery after a lost ack would.
  const event = {
    specversion: '1.0',
    id: handled!.event_id,
    source: '/mosaic/catalog',
    type: 'product.created',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { id: 'ev-redeliver' },
  } as const
  await redeliver(
    node,
    { id: 'ledger/catalog.product.created', consumer: 'ledger', source: 'catalog', type: 'product.created' },
    [event],
  )
  assert.equal(await entriesFor('ev-redeliver'), 1)
})

test('an event that comes twice in one batch (a redelivery caught up with its first delivery) has one effect', async () => {
  const event = {
    specversion: '1.0',
    id: '7b0c4f0e-5a51-4f4e-9d0c-2f1d3c4b5a69',
    source: '/mosaic/catalog',
    type: 'product.created',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { id: 'ev-twice-in-a-batch' },
  } as const
  await redeliver(
    node,
    { id: 'ledger/catalog.product.created', consumer: 'ledger', source: 'catalog', type: 'product.created' },
    [event, event],
  )
  assert.equal(await entriesFor('ev-twice-in-a-batch'), 1)
})

test('a failing handler is retried with backoff and succeeds once', async () => {
  await node.services.get('ledger')!.invoke('failNext', { productId: 'ev-flaky', times: 2 }, Date.now() + 1000)
  assert.equal((await post({ id: 'ev-flaky', name: 'Flaky', price: 1 })).status, 201)
  assert.equal(
    await eventually('ev-flaky handled', async () => {
      const n = await entriesFor('ev-flaky')
      return n > 0 && n
    }),
    1,
  )
  const dead = await admin().query(`select 1 from ledger.mosaic_dead_letters where event->'data'->>'id' = 'ev-flaky'`)
  assert.equal(dead.length, 0)
})

test('a handler that keeps failing is dead-lettered with its error, and replay delivers it once', async () => {
  await node.services.get('ledger')!.invoke('failNext', { productId: 'ev-poison', times: 3 }, Date.now() + 1000)
  assert.equal((await post({ id: 'ev-poison', name: 'Poison', price: 1 })).status, 201)
  const dead = await eventually('ev-poison dead-lettered', async () => {
    const rows = await admin().query<{ id: bigint; attempts: number; error: string }>(
      `select id, attempts, error from ledger.mosaic_dead_letters where event->'data'->>'id' = 'ev-poison'`,
    )
    return rows.length > 0 && rows
  })
  assert.equal(dead.length, 1)
  assert.equal(dead[0]!.attempts, 3)
  assert.match(dead[0]!.error, /told to fail/)
  assert.equal(await entriesFor('ev-poison'), 0)

  assert.equal(await node.replay('ledger', [Number(dead[0]!.id)]), 1)
  assert.equal(
    await eventually('ev-poison replayed', async () => {
      const n = await entriesFor('ev-poison')
      return n > 0 && n
    }),
    1,
  )
  assert.equal(
    (await admin().query(`select 1 from ledger.mosaic_dead_letters where event->'data'->>'id' = 'ev-poison'`)).length,
    0,
  )
  assert.equal(await node.replay('ledger'), 0, 'nothing left to replay')
})

test('an event published in a transaction that rolls back is never delivered', async () => {
  const db = node.services.get('catalog')!.context.db
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.publish('product.created', {
        id: 'ev-rolled-back',
        name: 'x',
        description: '',
        price: 1,
        currency: 'USD',
        category: null,
        stock: 0,
        imageFileId: null,
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
      })
      throw new Error('business rule failed')
    }),
    /business rule failed/,
  )
  await drained(node)
  assert.equal(await entriesFor('ev-rolled-back'), 0)
})

test('publishing an event the contract does not declare, or with bad data, fails the transaction', async () => {
  const db = node.services.get('catalog')!.context.db
  await assert.rejects(
    db.transaction((tx) => tx.publish('product.exploded' as never, {} as never)),
    (e: unknown) => e instanceof MosaicError && e.code === 'internal',
  )
  await assert.rejects(
    db.transaction((tx) => tx.publish('product.deleted', { id: 42 } as never)),
    (e: unknown) => e instanceof MosaicError && /does not match/.test(e.message),
  )
})

test('database work inside a transaction must use its tx (it would deadlock PGlite)', async () => {
  const db = node.services.get('catalog')!.context.db
  await assert.rejects(
    db.transaction(() => db.query('select 1')),
    /use the transaction's tx/,
  )
})

test('a service reaches only its own schema: the database refuses the others', async () => {
  const ledgerDb = node.services.get('ledger')!.context.db
  await assert.rejects(ledgerDb.query('select count(*) from catalog.products'), /permission denied/)
  await assert.rejects(ledgerDb.query(`update catalog.products set stock = 0`), /permission denied/)
  await assert.doesNotReject(ledgerDb.query('select 1 from entries limit 1'), 'its own tables, by their plain names')
  const [row] = await node.services
    .get('catalog')!
    .context.db.query<{ n: bigint }>('select count(*) as n from products')
  assert.equal(typeof row!.n, 'bigint')
})
