// The event store and the read model on a PostgreSQL server, where concurrent transactions really
// do race: appends with an expected version never lose or merge an event, snapshots are taken every
// 100 events and loading from one equals folding everything, and rebuilding the projection (in
// process, and with `mosaic projections rebuild orders`) gives back exactly the live read model.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startOrdersNode, freshPostgres, type Harness, type Order } from './helpers.ts'
import { runNode, cli } from '../process.ts'
import {
  command,
  load,
  append,
  readEvents,
  ConcurrencyConflict,
  SNAPSHOT_EVERY,
  type Reducer,
  type Stored,
} from '../../src/services/orders/event-store.ts'
import { dumpViews, rebuildViews } from '../../src/services/orders/views.ts'
import type { ServiceDb } from '../../src/kit/service.ts'
import { MosaicError } from '../../src/kit/index.ts'
import type { OrdersContract } from '../../src/services/orders/contract.ts'

let h: Harness
let database: { url: string; drop: () => Promise<void> }
let db: ServiceDb<OrdersContract>

before(async () => {
  database = await freshPostgres()
  h = await startOrdersNode({ DATABASE_URL: database.url, DATABASE_POOL_SIZE: '8' })
  db = h.node.services.get('orders')!.context.db as ServiceDb<OrdersContract>
})
after(async () => {
  await h?.stop()
  await database?.drop()
})

/** A counter stream: each event carries who appended it; the state lists them in stream order. */
interface Tally {
  version: number
  writers: number[]
}
const tally: Reducer<Tally> = {
  initial: () => ({ version: 0, writers: [] }),
  replay: (state, events) =>
    events
      .filter((e) => e.version > state.version)
      .sort((a, b) => a.version - b.version)
      .reduce(
        (s, e) => ({ version: e.version, writers: [...s.writers, (e.data as { writer: number }).writer] }),
        state,
      ),
}

test('150 concurrent commands on one stream: every event kept, versions 1..150 without gaps, a snapshot at 100', async () => {
  const stream = `tally-${randomUUID()}`
  const writers = Array.from({ length: 150 }, (_, i) => i)
  // A writer that loses the race too many times gets a retryable 409 (`conflict`), and sends the
  // command again as a client would: on a loaded machine the 150 take longer than 20 attempts.
  const retried = async (writer: number): Promise<unknown> => {
    for (;;) {
      try {
        return await command(db, stream, tally, () => [{ type: 'tallied', data: { writer } }])
      } catch (error) {
        if (!(error instanceof MosaicError && error.code === 'conflict' && error.retryable)) throw error
      }
    }
  }
  await Promise.all(writers.map(retried))
  const events = await readEvents(db, stream)
  assert.deepEqual(
    events.map((e) => e.version),
    writers.map((i) => i + 1),
  )
  assert.deepEqual(
    events.map((e) => (e.data as { writer: number }).writer).sort((a, b) => a - b),
    writers,
  )
  const [snapshot] = await db.query<{ version: number }>('select version from snapshots where stream_id = $1', [stream])
  assert.equal(snapshot?.version, SNAPSHOT_EVERY)
  // From the snapshot plus 50 events, the same state as from all 150.
  assert.deepEqual(await load(db, stream, tally), tally.replay(tally.initial(), events as Stored[]))
})

test('an append with a stale expected version fails and leaves the stream as it was', async () => {
  const stream = `stale-${randomUUID()}`
  await command(db, stream, tally, () => [{ type: 'tallied', data: { writer: 1 } }])
  await assert.rejects(
    db.transaction((tx) => append(tx, stream, 0, [{ type: 'tallied', data: { writer: 2 } }])),
    ConcurrencyConflict,
  )
  assert.deepEqual(
    (await readEvents(db, stream)).map((e) => (e.data as { writer: number }).writer),
    [1],
  )
})

test('several events append in one go, in order; one taken version refuses them all', async () => {
  const stream = `several-${randomUUID()}`
  const tallied = (writer: number) => ({ type: 'tallied', data: { writer } })
  const appended = await db.transaction((tx) => append(tx, stream, 0, [tallied(1), tallied(2), tallied(3)]))
  assert.deepEqual(
    appended.map((e) => [e.version, (e.data as { writer: number }).writer]),
    [
      [1, 1],
      [2, 2],
      [3, 3],
    ],
  )
  // Versions 3 and 4 from a stale state: 3 is taken, so 4 is not appended either.
  await assert.rejects(
    db.transaction((tx) => append(tx, stream, 2, [tallied(4), tallied(5)])),
    ConcurrencyConflict,
  )
  assert.deepEqual(
    (await readEvents(db, stream)).map((e) => (e.data as { writer: number }).writer),
    [1, 2, 3],
  )
})

test('a command on a state the caller held: appended to when still the latest, decided again on a fresh load when not', async () => {
  const stream = `held-${randomUUID()}`
  const held = await command(db, stream, tally, () => [{ type: 'tallied', data: { writer: 1 } }])
  // Still the latest: appended at the next version.
  const second = await command(db, stream, tally, () => [{ type: 'tallied', data: { writer: 2 } }], held)
  assert.deepEqual(second, { version: 2, writers: [1, 2] })
  // Another writer appends; deciding on the old state would append at version 2 again.
  await command(db, stream, tally, () => [{ type: 'tallied', data: { writer: 3 } }])
  const seen: number[] = []
  const fourth = await command(
    db,
    stream,
    tally,
    (state) => {
      seen.push(state.version)
      return [{ type: 'tallied', data: { writer: 4 } }]
    },
    second,
  )
  assert.deepEqual(seen, [2, 3], 'decided on the held state, then again on the fresh one')
  assert.deepEqual(fourth, { version: 4, writers: [1, 2, 3, 4] })
  // A held state on which the command appends nothing is no proof of anything: decided again on a fresh load.
  const versions: number[] = []
  await command(
    db,
    stream,
    tally,
    (state) => {
      versions.push(state.version)
      return []
    },
    second,
  )
  assert.deepEqual(versions, [2, 4])
  // A refusal on a held state is decided again too; a refusal on the fresh state stands.
  await assert.rejects(
    command(
      db,
      stream,
      tally,
      (state) => {
        throw new Error(`refused at ${state.version}`)
      },
      second,
    ),
    /refused at 4/,
  )
  assert.deepEqual(
    (await readEvents(db, stream)).map((e) => [e.version, (e.data as { writer: number }).writer]),
    [
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ],
  )
})

test('concurrent cancels racing the saga on one order: one cancel_requested, no lost or doubled step', async () => {
  const customer = await h.customer()
  const p = await h.product(10)
  const placed = await h.place(customer.token, { productId: p, quantity: 1, paymentMethod: { token: 'tok_flaky' } })
  const replies = await Promise.all(
    Array.from({ length: 10 }, () => h.call('POST', `/api/orders/${placed.body.id}/cancel`, { token: customer.token })),
  )
  for (const r of replies) assert.ok([202, 409].includes(r.status), r.text)
  const order = await h.settle(customer.token, placed.body.id)
  assert.equal(order.status, 'CANCELLED')
  const types = (await readEvents(db, order.id)).map((e) => e.type)
  for (const type of new Set(types))
    assert.equal(types.filter((t) => t === type).length, 1, `${type} once: ${types.join(', ')}`)
  assert.equal(types.at(-1), 'order.cancelled')
})

test('rebuilding the projection gives back the live read model exactly (in process, and with the CLI)', async () => {
  const customer = await h.customer()
  const p = await h.product(3)
  await Promise.all([
    ...['tok_visa', 'tok_declined', 'tok_flaky', 'tok_visa'].map((token) =>
      h.place(customer.token, { productId: p, quantity: 1, paymentMethod: { token } }, { wait: 10 }),
    ),
    h.place(customer.token, { productId: p, quantity: 9, paymentMethod: { token: 'tok_visa' } }, { wait: 10 }),
  ])
  const live = await dumpViews(db)
  assert.ok(live.length >= 5)

  // Damage the read model, then rebuild it from the events alone.
  await db.query(`update order_views set status = 'PENDING', refunded = true`)
  await db.query('delete from order_views where id in (select id from order_views limit 2)')
  assert.notDeepEqual(await dumpViews(db), live)
  await db.transaction((tx) => rebuildViews(tx))
  assert.deepEqual(await dumpViews(db), live)

  const before = await h.call<{ items: Order[] }>('GET', '/api/orders?limit=100', { token: h.adminToken })
  await db.query('delete from order_views')
  const rebuilt = await runNode([cli, 'projections', 'rebuild', 'orders'], {
    DATABASE_URL: database.url,
    LOG_LEVEL: 'silent',
  })
  assert.equal(rebuilt.code, 0, rebuilt.stderr)
  assert.match(rebuilt.stdout, new RegExp(`${live.length} orders rebuilt`))
  assert.deepEqual(await dumpViews(db), live)
  assert.deepEqual(
    (await h.call<{ items: Order[] }>('GET', '/api/orders?limit=100', { token: h.adminToken })).body,
    before.body,
  )
})
