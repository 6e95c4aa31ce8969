// Idempotency-Key on POST /api/orders (IETF draft semantics), through the gateway, on a data
// directory so that the keys' survival of a restart is tested on the same files.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { login } from '../auth.ts'
import { startOrdersNode, PASSWORD, type Harness, type Order, type Problem } from './helpers.ts'

let dataDir: string
let h: Harness
let customer: { token: string; userId: string; email: string }
let product: string

// The saga's timeout is long here so that a `Prefer: wait` request with tok_timeout stays in flight for seconds.
const env = () => ({ DATA_DIR: dataDir, ORDERS_SAGA_TIMEOUT_MS: '4000', ORDERS_IDEMPOTENCY_WAIT_MS: '1000' })

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mosaic-orders-idem-'))
  h = await startOrdersNode(env())
  const c = await h.customer()
  const me = await h.call<{ email: string }>('GET', '/api/users/me', { token: c.token })
  customer = { ...c, email: me.body.email }
  product = await h.product(100)
})
after(async () => {
  await h?.stop()
  await rm(dataDir, { recursive: true, force: true })
})

const body = (quantity = 1, token = 'tok_visa') => ({
  items: [{ productId: product, quantity }],
  paymentMethod: { token },
})
const myOrders = async (): Promise<Order[]> =>
  (await h.call<{ items: Order[] }>('GET', '/api/orders?limit=100', { token: customer.token })).body.items

test('20 concurrent identical POSTs with one key: one order, 20 identical answers', async () => {
  const before = (await myOrders()).length
  const key = randomUUID()
  const replies = await Promise.all(Array.from({ length: 20 }, () => h.place(customer.token, body(2), { key })))
  for (const reply of replies) assert.equal(reply.status, 202, reply.text)
  assert.equal(new Set(replies.map((r) => r.text)).size, 1, 'the same body every time')
  assert.equal(new Set(replies.map((r) => r.headers.get('location'))).size, 1)
  assert.equal(replies.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 19)
  assert.equal((await myOrders()).length, before + 1)
  const order = await h.settle(customer.token, replies[0]!.body.id)
  assert.equal(order.status, 'CONFIRMED')
})

test('no key → 400; the same key with another body → 422; nothing placed by either', async () => {
  const before = (await myOrders()).length
  const missing = await h.place(customer.token, body(), { key: null })
  assert.equal(missing.status, 400, missing.text)
  assert.equal((missing.body as unknown as Problem).code, 'idempotency_key_missing')

  const key = randomUUID()
  assert.equal((await h.place(customer.token, body(1), { key })).status, 202)
  const reused = await h.place(customer.token, body(3), { key })
  assert.equal(reused.status, 422, reused.text)
  assert.equal((reused.body as unknown as Problem).code, 'idempotency_key_reused')
  assert.equal((await myOrders()).length, before + 1)
})

test('the same key while the first request is still in flight → 409; once it is done, its answer is replayed', async () => {
  const key = randomUUID()
  // tok_timeout and Prefer: wait keep the first request open until the saga gives up (seconds).
  const first = h.place(customer.token, body(1, 'tok_timeout'), { key, wait: 10 })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const during = await h.place(customer.token, body(1, 'tok_timeout'), { key })
  assert.equal(during.status, 409, during.text)
  assert.equal((during.body as unknown as Problem).code, 'idempotency_key_in_flight')
  assert.ok(during.headers.get('retry-after'))

  const done = await first
  assert.equal(done.status, 200, done.text)
  assert.equal(done.body.status, 'CANCELLED')
  const replay = await h.place(customer.token, body(1, 'tok_timeout'), { key })
  assert.equal(replay.status, 200)
  assert.equal(replay.text, done.text)
})

test('a request refused for bad input does not use up its key', async () => {
  const key = randomUUID()
  const bad = await h.place(
    customer.token,
    { items: [{ productId: 'no-such-thing', quantity: 1 }], paymentMethod: { token: 'tok_visa' } },
    { key },
  )
  assert.equal(bad.status, 422, bad.text)
  const good = await h.place(customer.token, body(), { key })
  assert.equal(good.status, 202, good.text)
})

test("keys belong to their caller: another customer's identical key is a different request", async () => {
  const key = randomUUID()
  const mine = await h.place(customer.token, body(), { key })
  const other = await h.customer()
  const theirs = await h.place(other.token, body(), { key })
  assert.equal(theirs.status, 202, theirs.text)
  assert.notEqual(theirs.body.id, mine.body.id)
})

test('after a restart the stored answer is replayed: status, body and Location', async () => {
  const key = randomUUID()
  const original = await h.place(customer.token, body(), { key })
  assert.equal(original.status, 202)
  await h.stop()
  h = await startOrdersNode(env())
  const token = (await login(h.url, customer.email, PASSWORD)).accessToken
  const replay = await h.place(token, body(), { key })
  assert.equal(replay.status, original.status)
  assert.equal(replay.text, original.text)
  assert.equal(replay.headers.get('location'), original.headers.get('location'))
  assert.equal(replay.headers.get('idempotent-replayed'), 'true')
  // And the order placed before the restart was carried through by the resumed saga.
  assert.equal((await h.settle(token, original.body.id)).status, 'CONFIRMED')
})
