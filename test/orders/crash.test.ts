// Checkouts survive kill -9: 50 orders are placed while the process is SIGKILLed at random
// moments during their sagas and restarted on the same data. Clients retry a request the crash
// cut off with the same Idempotency-Key, as they should. Then the customer cancels some confirmed
// orders and the process is killed again while they are refunded and their stock given back.
// Once it settles, every invariant holds: each order CONFIRMED or CANCELLED (none stuck), stock =
// initial − quantities of the orders that end confirmed, a captured payment for each confirmed
// order of its total, and nothing held for a cancelled one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { spawnNode, tempDataDir, type Child } from '../process.ts'
import { adminEnv, login } from '../auth.ts'
import { sagaEnv, PASSWORD, type Order } from './helpers.ts'
import { call as httpCall } from '../helpers/http.ts'
import { seededRandom } from '../helpers/seed.ts'
import { customer as signedUp } from '../helpers/users.ts'
import type { PaymentOut as Payment } from '../payments/helpers.ts'

const script = join(import.meta.dirname, 'crash-node.ts')
const TOKENS = [
  'tok_visa',
  'tok_visa',
  'tok_visa',
  'tok_flaky',
  'tok_declined',
  'tok_insufficient_funds',
  'tok_timeout',
]
const ORDERS = 50

test('50 checkouts under random SIGKILLs: every order settles and every invariant holds', {
  timeout: 240_000,
}, async (t) => {
  const random = seededRandom(t)
  const dataDir = await tempDataDir(t, 'mosaic-orders-crash-')
  const env = {
    ...sagaEnv,
    ORDERS_SAGA_TIMEOUT_MS: '3000',
    ORDERS_SAGA_LEASE_MS: '1000',
    DATA_DIR: dataDir,
    CATALOG_SEED_DEMO: 'false',
    LOG_LEVEL: 'silent',
    EVENT_POLL_MS: '50',
    ...adminEnv,
  }
  let child: Child = await spawnNode([script], env, 60_000)
  t.after(() => child.kill('SIGKILL'))
  // `child` is read at each call: it is replaced by a new process after every kill.
  const call = <T>(method: string, path: string, token: string, json?: unknown, headers: Record<string, string> = {}) =>
    httpCall<T>(child, method, path, { token, headers, ...(json ? { json } : {}) })

  let admin = (await login(child.url)).accessToken
  const initial = new Map<string, number>()
  for (let i = 0; i < 3; i++) {
    const id = `crash-${i}-${randomUUID().slice(0, 6)}`
    initial.set(id, 25)
    assert.equal(
      (
        await call('POST', '/api/products', admin, {
          id,
          name: `Crash ${i}`,
          price: '2.50',
          currency: 'EUR',
          stock: 25,
        })
      ).status,
      201,
    )
  }
  const email = `crash-${randomUUID().slice(0, 8)}@orders.test`
  let customer = (await signedUp(child, { email, name: 'Crash' })).token

  const products = [...initial.keys()]
  // Each request: its key and body, fixed up front, so a retry is the same request.
  const requests = Array.from({ length: ORDERS }, (_, i) => ({
    key: randomUUID(),
    body: {
      items: [
        { productId: products[i % 3]!, quantity: 1 + (i % 3) },
        ...(i % 4 === 0 ? [{ productId: products[(i + 1) % 3]!, quantity: 2 }] : []),
      ],
      paymentMethod: { token: TOKENS[i % TOKENS.length]! },
    },
  }))
  const placed = new Map<number, string>()
  const send = async (i: number): Promise<void> => {
    try {
      const reply = await call<Order>('POST', '/api/orders', customer, requests[i]!.body, {
        'idempotency-key': requests[i]!.key,
      })
      if (reply.status === 202 || reply.status === 200) placed.set(i, reply.body.id)
    } catch {
      /* cut off by the crash: sent again after the restart */
    }
  }

  let kills = 0
  for (let wave = 1; wave <= 3; wave++) {
    const pending = requests
      .map((_, i) => i)
      .filter((i) => !placed.has(i))
      .slice(0, Math.ceil((ORDERS * wave) / 3) - placed.size)
    const sending = Promise.all(pending.map(send))
    await new Promise((resolve) => setTimeout(resolve, 50 + random() * 400))
    await child.kill('SIGKILL')
    kills++
    await sending
    // The last process keeps its log, to explain an order that would not settle.
    child = await spawnNode([script], wave === 3 ? { ...env, LOG_LEVEL: 'info' } : env, 60_000)
    admin = (await login(child.url)).accessToken
    customer = (await login(child.url, email, PASSWORD)).accessToken
  }
  // Whatever the crashes cut off, the clients send again with the same keys (a key whose request
  // died answers 409 until its lock runs out: they retry after a pause, as Retry-After says).
  for (const until = Date.now() + 30_000; placed.size < ORDERS && Date.now() < until; ) {
    await Promise.all(
      requests
        .map((_, i) => i)
        .filter((i) => !placed.has(i))
        .map(send),
    )
    if (placed.size < ORDERS) await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  assert.equal(placed.size, ORDERS, 'every order was accepted in the end')

  // Let it settle: no order may stay PENDING.
  const all = async (): Promise<Order[]> => {
    const orders: Order[] = []
    let cursor: string | null = null
    do {
      const page: { body: { items: Order[]; nextCursor: string | null } } = await call(
        'GET',
        `/api/orders?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
        admin,
      )
      orders.push(...page.body.items)
      cursor = page.body.nextCursor
    } while (cursor)
    return orders
  }
  /** Waits until no order is PENDING (and every cancelled one is CANCELLED), then checks so. */
  const settled = async (cancelled: ReadonlySet<string> = new Set()): Promise<Order[]> => {
    const unsettled = (o: Order): boolean => o.status === 'PENDING' || (cancelled.has(o.id) && o.status !== 'CANCELLED')
    let orders = await all()
    for (const until = Date.now() + 60_000; orders.some(unsettled) && Date.now() < until; ) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      orders = await all()
    }
    const stuck = orders.filter(unsettled).map((o) => o.id)
    assert.deepEqual(
      stuck,
      [],
      `no order is stuck; log of the last process about them:\n${child
        .output()
        .split('\n')
        .filter((l) => stuck.some((id) => l.includes(id)))
        .slice(-3)
        .map((l) => l.slice(0, 600))
        .join('\n')}`,
    )
    return orders
  }
  let orders = await settled()
  assert.equal(orders.length, ORDERS, 'one order per request, whatever was retried')
  assert.deepEqual(new Set(orders.map((o) => o.id)), new Set(placed.values()))

  // The customer cancels a few confirmed orders (refund, stock back on the shelf), and the process
  // dies while that runs. A cancel the crash cut off is sent again (409 once it is done).
  const toCancel = orders.filter((o) => o.status === 'CONFIRMED').slice(0, 6)
  assert.ok(toCancel.length >= 3, `enough confirmed orders to cancel (${toCancel.length})`)
  const cancel = async (order: Order): Promise<boolean> => {
    try {
      return [200, 202, 409].includes((await call('POST', `/api/orders/${order.id}/cancel`, customer)).status)
    } catch {
      return false
    }
  }
  const cancelling = Promise.all(toCancel.map(cancel))
  await new Promise((resolve) => setTimeout(resolve, random() * 300))
  await child.kill('SIGKILL')
  kills++
  const answered = await cancelling
  child = await spawnNode([script], { ...env, LOG_LEVEL: 'info' }, 60_000)
  admin = (await login(child.url)).accessToken
  customer = (await login(child.url, email, PASSWORD)).accessToken
  for (const [i, order] of toCancel.entries())
    if (!answered[i]) assert.ok(await cancel(order), `cancel of ${order.id} sent again`)
  const cancelled = new Set(toCancel.map((o) => o.id))
  orders = await settled(cancelled)
  for (const order of orders.filter((o) => cancelled.has(o.id))) {
    assert.deepEqual(
      [order.status, order.reason, order.refunded],
      ['CANCELLED', 'cancelled_by_customer', true],
      `cancelled confirmed order ${order.id}`,
    )
  }

  assert.equal(kills, 4)

  // Stock = initial − quantities of the orders that end confirmed.
  const confirmed = orders.filter((o) => o.status === 'CONFIRMED')
  assert.ok(confirmed.length > 0 && confirmed.length < ORDERS, `a mix of outcomes (${confirmed.length} confirmed)`)
  for (const [id, stock] of initial) {
    const sold = confirmed
      .flatMap((o) => o.items)
      .filter((l) => l.productId === id)
      .reduce((n, l) => n + l.quantity, 0)
    const product = await call<{ stock: number }>('GET', `/api/products/${id}`, admin)
    assert.equal(product.body.stock, stock - sold, `stock of ${id}`)
  }

  // Captured payments match confirmed orders; nothing is held for a cancelled one.
  const payments: Payment[] = []
  let cursor: string | null = null
  do {
    const page: { body: { items: Payment[]; nextCursor: string | null } } = await call(
      'GET',
      `/api/payments?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      admin,
    )
    payments.push(...page.body.items)
    cursor = page.body.nextCursor
  } while (cursor)
  const paymentOf = new Map(payments.map((p) => [p.orderId, p]))
  for (const order of orders) {
    const payment = paymentOf.get(order.id)
    if (order.status === 'CONFIRMED') {
      assert.equal(payment?.status, 'captured', `order ${order.id}`)
      assert.equal(payment.captured, order.total)
    } else {
      assert.ok(
        !payment || ['declined', 'voided', 'refunded'].includes(payment.status),
        `cancelled order ${order.id} (${order.reason}) left a payment ${payment?.status}`,
      )
      assert.equal((payment?.captured ?? 0) - (payment?.refunded ?? 0), 0)
    }
  }
  assert.equal(payments.filter((p) => p.status === 'captured').length, confirmed.length)
  assert.equal(await child.kill('SIGTERM'), 0, 'a graceful stop exits 0')
})
