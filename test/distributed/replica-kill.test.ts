// A replica SIGKILLed in the middle of a stream of checkouts, and started again: the system as
// `mosaic services start` runs it (two replicas each of catalog, orders and payments, a database
// per service, NATS for events and discovery), 100 checkouts through the gateway by a client that
// retries with the same Idempotency-Key whatever went wrong, and one replica (drawn from a seeded
// generator: TEST_SEED replays it) killed by its pid then restarted. Nothing may be lost or
// doubled: every order ends CONFIRMED or CANCELLED, stock and payments add up to the orders.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { cli, runNode, tempDataDir } from '../process.ts'
import { adminEnv, login, INTERNAL_SECRET } from '../auth.ts'
import { defer, freshDatabase, natsNamespace } from '../infra.ts'
import { call, type Reply } from '../helpers/http.ts'
import { customer } from '../helpers/users.ts'
import { seededRandom } from '../helpers/seed.ts'
import { envPrefix } from '../../src/kit/config.ts'
import type { Running } from '../../src/cli/services.ts'
import type { Order } from '../orders/helpers.ts'
import type { PaymentOut as Payment } from '../payments/helpers.ts'
import { alive } from '../../src/runtime/data-dir.ts'

const cleanup = { after: (fn: () => Promise<void>) => after(fn) }
const CHECKOUTS = 100
const CONCURRENCY = 6
const replicated = ['catalog', 'orders', 'payments']
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('a replica of catalog, orders or payments SIGKILLed during 100 checkouts, then started again: nothing lost, everything adds up', {
  timeout: 240_000,
}, async (t) => {
  const random = seededRandom(t)
  // Drawn first, so that a seed names its victim whatever else changes.
  const victim = {
    name: replicated[Math.floor(random() * replicated.length)]!,
    replica: 1 + Math.floor(random() * 2),
    after: 15 + Math.floor(random() * 30),
  }
  t.diagnostic(`killing ${victim.name}-${victim.replica} after ${victim.after} checkouts`)
  const dataDir = await tempDataDir(cleanup, 'mosaic-replica-kill-')
  const databases: Record<string, string> = {}
  for (const name of ['identity', ...replicated])
    databases[`${envPrefix(name)}_DATABASE_URL`] = await freshDatabase(cleanup, `mosaic_kill_${name}`)
  const env: Record<string, string> = {
    ...adminEnv,
    ...databases,
    NATS_NAMESPACE: natsNamespace(cleanup),
    MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    CATALOG_SEED_DEMO: 'false',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    EVENT_POLL_MS: '50',
    EVENT_RETRY_BASE_MS: '50',
    // A killed orders replica's sagas are taken over once its lease ends.
    ORDERS_SAGA_POLL_MS: '100',
    ORDERS_STEP_TIMEOUT_MS: '1500',
    ORDERS_SAGA_LEASE_MS: '3000',
  }
  const mosaic = (...args: string[]) => runNode([cli, 'services', ...args], env, 180_000)
  const status = async (): Promise<Running[]> => {
    const listed = await mosaic('status', '--json')
    assert.equal(listed.code, 0, listed.stderr)
    return JSON.parse(listed.stdout) as Running[]
  }
  let everyPid = new Set<number>()
  defer(cleanup, async () => {
    await mosaic('stop')
    for (const pid of everyPid) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })

  const started = await mosaic(
    'start',
    'identity',
    ...replicated,
    'gateway',
    '--replicas',
    replicated.map((name) => `${name}=2`).join(','),
  )
  assert.equal(started.code, 0, started.stderr)
  const before = await status()
  everyPid = new Set(before.map((p) => p.pid))
  assert.deepEqual(
    before.map((p) => `${p.name}-${p.replica}`),
    ['gateway-1', 'identity-1', 'catalog-1', 'catalog-2', 'orders-1', 'orders-2', 'payments-1', 'payments-2'],
  )
  const url = before.find((p) => p.name === 'gateway')!.url

  // Three products, four customers; each checkout one or two lines, one in ten declined.
  const admin = (await login(url)).accessToken
  const initial: Record<string, number> = { 'kill-lamp': 120, 'kill-desk': 90, 'kill-chair': 60 }
  for (const [id, stock] of Object.entries(initial)) {
    const created = await call(url, 'POST', '/api/products', {
      token: admin,
      json: { id, name: id, price: '12.50', currency: 'EUR', stock },
    })
    assert.equal(created.status, 201, created.text)
  }
  const buyers = await Promise.all(Array.from({ length: 4 }, () => customer(url)))
  const products = Object.keys(initial)
  const checkouts = Array.from({ length: CHECKOUTS }, (_, i) => {
    const lines = products.filter(() => random() < 0.5).slice(0, 2)
    return {
      key: randomUUID(),
      token: buyers[i % buyers.length]!.token,
      body: {
        items: (lines.length ? lines : [products[Math.floor(random() * products.length)]!]).map((productId) => ({
          productId,
          quantity: 1 + Math.floor(random() * 2),
        })),
        paymentMethod: { token: random() < 0.1 ? 'tok_declined' : 'tok_visa' },
      },
    }
  })

  /** POSTs until answered with the order: a dropped connection or a retryable refusal is retried with the same key. */
  let retries = 0
  const place = async (checkout: (typeof checkouts)[number]): Promise<Order> => {
    const until = Date.now() + 60_000
    for (;;) {
      const reply: Reply<Order> | undefined = await call<Order>(url, 'POST', '/api/orders', {
        token: checkout.token,
        json: checkout.body,
        headers: { 'idempotency-key': checkout.key, prefer: 'wait=10' },
      }).catch(() => undefined)
      if (reply && (reply.status === 200 || reply.status === 201 || reply.status === 202)) return reply.body
      // 409 idempotency_key_in_flight: the first attempt still runs; 5xx: a replica was gone.
      assert.ok(
        !reply || reply.status >= 500 || reply.status === 409 || reply.status === 429,
        `checkout ${checkout.key}: ${reply?.status} ${reply?.text}`,
      )
      assert.ok(Date.now() < until, `checkout ${checkout.key} unanswered for 60 s: ${reply?.status} ${reply?.text}`)
      retries++
      await sleep(200)
    }
  }

  let next = 0
  let killed: Running | undefined
  let restarted: Promise<void> | undefined
  const placed: Order[] = []
  const stream = Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CHECKOUTS) {
        const i = next++
        if (i === victim.after) {
          killed = before.find((p) => p.name === victim.name && p.replica === victim.replica)!
          process.kill(killed.pid, 'SIGKILL')
          // Started again a second later, while the stream goes on.
          restarted = sleep(1_000).then(async () => {
            const again = await mosaic('start', victim.name, '--replicas', `${victim.name}=2`)
            assert.equal(again.code, 0, again.stderr)
            assert.match(again.stdout, new RegExp(`^${victim.name}-${victim.replica} `))
          })
        }
        placed[i] = await place(checkouts[i]!)
      }
    }),
  )
  // The restart is waited for even when the stream failed, so that it never outlives the test.
  await stream.finally(() => restarted?.catch(() => {}))
  await restarted
  t.diagnostic(`${retries} retried POSTs`)

  const afterwards = await status()
  for (const p of afterwards) everyPid.add(p.pid)
  assert.equal(alive(killed!.pid), false)
  assert.deepEqual(
    afterwards.map((p) => `${p.name}-${p.replica}`),
    before.map((p) => `${p.name}-${p.replica}`),
    'the killed replica runs again under its number',
  )
  assert.notEqual(afterwards.find((p) => p.name === victim.name && p.replica === victim.replica)!.pid, killed!.pid)

  // Every POST answered with an order of its own; each order ends CONFIRMED or CANCELLED.
  assert.equal(new Set(placed.map((o) => o.id)).size, CHECKOUTS)
  const final = await Promise.all(
    placed.map(async (order, i) => {
      const until = Date.now() + 90_000
      for (;;) {
        const reply = await call<Order>(url, 'GET', `/api/orders/${order.id}`, { token: checkouts[i]!.token })
        assert.equal(reply.status, 200, reply.text)
        if (reply.body.status !== 'PENDING') return reply.body
        assert.ok(Date.now() < until, `order ${order.id} still PENDING after 90 s`)
        await sleep(250)
      }
    }),
  )
  for (const order of final)
    assert.ok(order.status === 'CONFIRMED' || order.status === 'CANCELLED', `${order.id}: ${order.status}`)
  const confirmed = final.filter((o) => o.status === 'CONFIRMED')
  const reasons = Object.entries(
    Object.groupBy(
      final.filter((o) => o.status === 'CANCELLED'),
      (o) => o.reason ?? '?',
    ),
  ).map(([reason, os]) => `${os!.length} ${reason}`)
  t.diagnostic(`${confirmed.length} confirmed, cancelled: ${reasons.join(', ') || 'none'}`)
  assert.ok(confirmed.length > 0)

  // No order made twice: each customer's orders are exactly those answered to them.
  for (const buyer of buyers) {
    const listed = await every<Order>(url, '/api/orders', buyer.token)
    assert.deepEqual(
      listed.map((o) => o.id).sort(),
      final
        .filter((o) => o.userId === buyer.userId)
        .map((o) => o.id)
        .sort(),
    )
  }

  // Stock: the initial stock less what confirmed orders took (cancelled reservations given back).
  const expected = Object.fromEntries(
    products.map((id) => [
      id,
      initial[id]! -
        confirmed
          .flatMap((o) => o.items)
          .filter((l) => l.productId === id)
          .reduce((sum, l) => sum + l.quantity, 0),
    ]),
  )
  await settles(
    'stock',
    async () =>
      Object.fromEntries(
        await Promise.all(
          products.map(
            async (id) => [id, (await call<{ stock: number }>(url, 'GET', `/api/products/${id}`)).body.stock] as const,
          ),
        ),
      ),
    expected,
  )

  // Payments: one captured payment of its total per confirmed order; none held for a cancelled one.
  await settles('payments', async () => {
    const problems: string[] = []
    for (const buyer of buyers) {
      const payments = await every<Payment>(url, '/api/payments', buyer.token)
      for (const order of final.filter((o) => o.userId === buyer.userId)) {
        const of = payments.filter((p) => p.orderId === order.id)
        if (
          order.status === 'CONFIRMED' &&
          !(of.length === 1 && of[0]!.status === 'captured' && of[0]!.captured === order.total)
        )
          problems.push(`${order.id} CONFIRMED ${order.total}: ${JSON.stringify(of)}`)
        if (order.status === 'CANCELLED' && of.some((p) => p.status === 'authorized' || p.captured !== p.refunded))
          problems.push(`${order.id} CANCELLED: ${JSON.stringify(of)}`)
      }
    }
    return problems
  }, [])
})

/** Every item of a paginated list. */
async function every<T>(url: string, path: string, token: string): Promise<T[]> {
  const items: T[] = []
  let cursor: string | null = null
  do {
    const reply: Reply<{ items: T[]; nextCursor: string | null }> = await call(
      url,
      'GET',
      `${path}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { token },
    )
    assert.equal(reply.status, 200, reply.text)
    items.push(...reply.body.items)
    cursor = reply.body.nextCursor
  } while (cursor)
  return items
}

/** Polls `probe` until it deep-equals `expected` (30 s at most), failing with the last value. */
async function settles<T>(what: string, probe: () => Promise<T>, expected: T): Promise<void> {
  const until = Date.now() + 30_000
  for (;;) {
    const value = await probe()
    try {
      assert.deepEqual(value, expected, what)
      return
    } catch (error) {
      if (Date.now() > until) throw error
    }
    await sleep(250)
  }
}
