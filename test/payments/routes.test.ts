// The public side of payments and billing, through the gateway over HTTP: who sees which payment,
// refunds with Idempotency-Key, invoices from order.confirmed (gap-free numbers, redelivery, HTML
// escaping), subscriptions with usage and period invoices.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode } from '../../src/runtime/node.ts'
import { defineContract, defineService, type Static } from '../../src/kit/index.ts'
import identity from '../../src/services/identity/service.ts'
import { createPaymentsService } from '../../src/services/payments/service.ts'
import { ordersContract } from '../../src/services/orders/contract.ts'
import type { Invoice } from '../../src/services/payments/contract.ts'
import { adminEnv } from '../auth.ts'
import { call, assertProblem, signUp, type TestNode, type Tokens, type User } from '../identity/helpers.ts'
import { eventually } from '../helpers/wait.ts'
import { authorization, uid, type PaymentOut } from './helpers.ts'
import { drained } from '../helpers/drained.ts'

type InvoiceOut = Static<typeof Invoice>
type OrderConfirmed = Static<(typeof ordersContract)['events']['order.confirmed']>

// Stands in for the orders service: publishes order.confirmed exactly as the orders contract declares it.
const fakeOrders = defineService(
  defineContract({
    name: 'orders',
    version: '1.0.0',
    routes: {},
    actions: {},
    events: { 'order.confirmed': ordersContract.events['order.confirmed'] },
  }),
  { routes: {}, actions: {} },
)

let t: TestNode
let customer: { user: User; tokens: Tokens }
let other: { user: User; tokens: Tokens }
let staff: { user: User; tokens: Tokens }

const as = (who: { tokens: Tokens }) => who.tokens.accessToken
const payments = () => t.node.services.get('payments')!
const invoke = async <T = PaymentOut>(action: string, input: unknown) =>
  structuredClone(await payments().invoke(action, input, Date.now() + 5000)) as T

async function paidOrder(userId: string, amount = 40): Promise<PaymentOut> {
  const input = authorization({ userId, amount })
  await invoke('authorizePayment', input)
  return invoke('capturePayment', { key: `${input.orderId}:capture`, orderId: input.orderId })
}

async function confirmOrder(data: OrderConfirmed): Promise<unknown> {
  return t.node.services
    .get('orders')!
    .context.db.transaction((tx) => tx.publish('order.confirmed' as never, data as never))
}

function order(user: User, overrides: Partial<OrderConfirmed> = {}): OrderConfirmed {
  return {
    orderId: `ord-${uid()}`,
    userId: user.id,
    tenantId: user.tenantId,
    paymentId: `pay_${uid()}`,
    currency: 'USD',
    total: 59.97,
    items: [
      { productId: 'prod-mouse', name: 'Mouse', quantity: 2, unitPrice: 19.99, currency: 'USD' },
      { productId: 'prod-pad', name: 'Pad', quantity: 1, unitPrice: 19.99, currency: 'USD' },
    ],
    ...overrides,
  }
}

async function invoiceOf(orderId: string, token = as(staff)): Promise<InvoiceOut> {
  return eventually(`an invoice for ${orderId}`, async () => {
    const list = await call<{ items: InvoiceOut[] }>(t, 'GET', `/api/invoices?orderId=${orderId}`, { token })
    return list.body.items[0]
  })
}

before(async () => {
  const node = await startNode({
    role: 'gateway',
    services: [identity, createPaymentsService(), fakeOrders],
    port: 0,
    env: { HOST: '127.0.0.1', DATA_DIR: ':memory:', LOG_LEVEL: 'silent', EVENT_POLL_MS: '20', ...adminEnv },
  })
  t = { node, url: node.url, stop: () => node.stop() }
  ;[customer, other, staff] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['staff'] })])
})
after(() => t?.stop())

describe('payments routes', () => {
  test("a customer sees their own payments, not another customer's (404); staff see all of the tenant", async () => {
    const mine = await paidOrder(customer.user.id)
    const theirs = await paidOrder(other.user.id)
    assert.equal(
      (await call<PaymentOut>(t, 'GET', `/api/payments/${mine.id}`, { token: as(customer) })).body.id,
      mine.id,
    )
    assertProblem(await call(t, 'GET', `/api/payments/${theirs.id}`, { token: as(customer) }), 404, 'not_found')
    assertProblem(await call(t, 'GET', `/api/payments/pay_nothing`, { token: as(customer) }), 404, 'not_found')
    assert.equal((await call<PaymentOut>(t, 'GET', `/api/payments/${theirs.id}`, { token: as(staff) })).status, 200)
    const list = await call<{ items: PaymentOut[] }>(t, 'GET', '/api/payments?limit=100', { token: as(customer) })
    assert.ok(list.body.items.length > 0 && list.body.items.every((p) => p.userId === customer.user.id))
    const all = await call<{ items: PaymentOut[] }>(t, 'GET', '/api/payments?limit=100', { token: as(staff) })
    assert.ok(all.body.items.some((p) => p.id === mine.id) && all.body.items.some((p) => p.id === theirs.id))
    assertProblem(await call(t, 'GET', '/api/payments'), 401, 'unauthenticated')
  })

  test('?orderId= narrows a list to the order, within what the caller may see', async () => {
    const mine = await paidOrder(customer.user.id)
    await paidOrder(customer.user.id)
    const theirs = await paidOrder(other.user.id)
    const list = (orderId: string, token: string) =>
      call<{ items: PaymentOut[] }>(t, 'GET', `/api/payments?orderId=${orderId}`, { token })
    assert.deepEqual(
      (await list(mine.orderId, as(customer))).body.items.map((p) => p.id),
      [mine.id],
    )
    assert.deepEqual((await list(theirs.orderId, as(customer))).body.items, [])
    assert.deepEqual(
      (await list(theirs.orderId, as(staff))).body.items.map((p) => p.id),
      [theirs.id],
    )
    assert.deepEqual((await list('ord_nothing', as(staff))).body.items, [])
    // Several orders at once, the key repeated: each order's payment, still within the caller's scope.
    const several = `${mine.orderId}&orderId=${theirs.orderId}&orderId=ord_nothing`
    assert.deepEqual((await list(several, as(staff))).body.items.map((p) => p.id).sort(), [mine.id, theirs.id].sort())
    assert.deepEqual(
      (await list(several, as(customer))).body.items.map((p) => p.id),
      [mine.id],
    )
    assertProblem(
      await call(t, 'GET', `/api/payments?${Array.from({ length: 101 }, (_, i) => `orderId=ord_${i}`).join('&')}`, {
        token: as(staff),
      }),
      400,
      'invalid_parameters',
    )
    const [ours, others] = [order(customer.user), order(other.user)]
    await Promise.all([confirmOrder(ours), confirmOrder(others)])
    assert.equal((await invoiceOf(ours.orderId, as(customer))).orderId, ours.orderId)
    await invoiceOf(others.orderId)
    const invoices = await call<{ items: InvoiceOut[] }>(t, 'GET', `/api/invoices?orderId=${others.orderId}`, {
      token: as(customer),
    })
    assert.deepEqual(invoices.body.items, [])
    assertProblem(
      await call(t, 'GET', `/api/payments?orderId=${'x'.repeat(101)}`, { token: as(staff) }),
      400,
      'invalid_parameters',
    )
    assertProblem(await call(t, 'GET', '/api/invoices?orderId=', { token: as(staff) }), 400, 'invalid_parameters')
  })

  test('the list pages by cursor, newest first, without repeats', async () => {
    for (let i = 0; i < 5; i++) await paidOrder(other.user.id, i + 1)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const reply: { body: { items: PaymentOut[]; nextCursor: string | null } } = await call(
        t,
        'GET',
        `/api/payments?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: as(other) },
      )
      seen.push(...reply.body.items.map((p) => p.id))
      cursor = reply.body.nextCursor
    } while (cursor)
    assert.equal(new Set(seen).size, seen.length)
    assert.ok(seen.length >= 6)
    assertProblem(await call(t, 'GET', '/api/payments?cursor=garbage', { token: as(other) }), 400, 'invalid_parameters')
  })

  test('refunds: staff only, Idempotency-Key required and replayed, never more than captured', async () => {
    const paid = await paidOrder(customer.user.id, 50)
    const refund = (body: unknown, key?: string, token = as(staff)) =>
      call<PaymentOut>(t, 'POST', `/api/payments/${paid.id}/refund`, {
        json: body,
        token,
        headers: key ? { 'idempotency-key': key } : {},
      })
    assertProblem(await refund({ amount: 10 }), 400, 'idempotency_key_missing')
    assertProblem(await refund({ amount: 10 }, 'k1', as(customer)), 403, 'forbidden')
    const first = await refund({ amount: 10 }, 'k1')
    assert.equal(first.status, 200, first.text)
    assert.equal(first.body.refunded, 10)
    assert.deepEqual((await refund({ amount: 10 }, 'k1')).body, first.body)
    assertProblem(await refund({ amount: 20 }, 'k1'), 422, 'idempotency_key_reused')
    assertProblem(await refund({ amount: 40.01 }, 'k2'), 409, 'refund_exceeds_capture')
    assertProblem(await refund({ amount: -1 }, 'k3'), 422, 'validation_failed')
    assertProblem(await refund({ amount: 0 }, 'k3'), 422, 'validation_failed')
    assertProblem(await refund({ amount: 1.001 }, 'k3'), 422, 'validation_failed')
    const rest = await refund({}, 'k4')
    assert.equal(rest.body.status, 'refunded')
    assert.equal(rest.body.refunded, 50)
    assertProblem(await refund({ amount: 0.01 }, 'k5'), 409, 'refund_exceeds_capture')
    // Another payment with the same key is another request.
    const second = await paidOrder(customer.user.id, 5)
    assertProblem(
      await call(t, 'POST', `/api/payments/${second.id}/refund`, {
        json: {},
        token: as(staff),
        headers: { 'idempotency-key': 'k4' },
      }),
      422,
      'idempotency_key_reused',
    )
  })
})

describe('invoices', () => {
  test('a confirmed order gets one invoice, once, whatever is redelivered', async () => {
    const data = order(customer.user)
    const event = await confirmOrder(data)
    const invoice = await invoiceOf(data.orderId)
    assert.equal(invoice.total, 59.97)
    assert.equal(invoice.lines.length, 2)
    assert.deepEqual(invoice.lines[0], {
      description: 'Mouse (prod-mouse)',
      quantity: 2,
      unitPrice: 19.99,
      amount: 39.98,
    })
    assert.match(invoice.number, /^INV-default-\d{6}$/)
    // The same event delivered again, and the order confirmed again under another event id.
    await t.node.engine.admin.query(
      `insert into mosaic_bus.deliveries (subscription, consumer, event) values ('payments/orders.order.confirmed', 'payments', $1::text::jsonb)`,
      [JSON.stringify(event)],
    )
    await confirmOrder(data)
    await drained(t.node)
    const all = await call<{ items: InvoiceOut[] }>(t, 'GET', '/api/invoices?limit=100', { token: as(staff) })
    assert.equal(all.body.items.filter((i) => i.orderId === data.orderId).length, 1)
  })

  test('invoice numbers run per tenant without gaps under concurrency', async () => {
    const orders = Array.from({ length: 15 }, () => order(other.user))
    await Promise.all(orders.map(confirmOrder))
    const invoices = await Promise.all(orders.map((o) => invoiceOf(o.orderId)))
    const all = await call<{ items: InvoiceOut[] }>(t, 'GET', '/api/invoices?limit=100', { token: as(staff) })
    const numbers = all.body.items
      .filter((i) => i.tenantId === 'default')
      .map((i) => Number(i.number.slice('INV-default-'.length)))
      .sort((a, b) => a - b)
    assert.deepEqual(
      numbers,
      Array.from({ length: numbers.length }, (_, i) => i + 1),
    )
    assert.equal(new Set(invoices.map((i) => i.number)).size, 15)
  })

  test('owner and staff read an invoice, as JSON or as HTML with every value escaped; others get 404', async () => {
    const data = order(customer.user, {
      total: 5,
      items: [
        { productId: 'prod-x', name: '<script>alert("x")</script> & "Co"', quantity: 1, unitPrice: 5, currency: 'USD' },
      ],
    })
    await confirmOrder(data)
    const invoice = await invoiceOf(data.orderId, as(customer))
    assertProblem(await call(t, 'GET', `/api/invoices/${invoice.id}`, { token: as(other) }), 404, 'not_found')
    assert.equal((await call(t, 'GET', `/api/invoices/${invoice.id}`, { token: as(staff) })).status, 200)
    for (const options of [
      { path: `/api/invoices/${invoice.id}?format=html`, headers: {} as Record<string, string> },
      { path: `/api/invoices/${invoice.id}`, headers: { accept: 'text/html' } },
    ]) {
      const page = await call(t, 'GET', options.path, { token: as(customer), headers: options.headers })
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/)
      assert.ok(!page.text.includes('<script>'), 'unescaped script')
      assert.ok(page.text.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Co&quot;'), page.text)
      assert.ok(page.text.includes(invoice.number) && page.text.includes('5.00 USD'))
    }
    const json = await call<InvoiceOut>(t, 'GET', `/api/invoices/${invoice.id}`, {
      token: as(customer),
      headers: { accept: 'application/json' },
    })
    assert.equal(json.body.lines[0]!.description, '<script>alert("x")</script> & "Co" (prod-x)')
    assertProblem(
      await call(t, 'GET', `/api/invoices/${invoice.id}?format=pdf`, { token: as(customer) }),
      400,
      'invalid_parameters',
    )
  })
})

describe('subscriptions', () => {
  test('plans, subscribing, usage deduplicated, and a period invoice of fee + overage', async () => {
    const plans = await call<{ items: { id: string; fee: number; includedUnits: number; unitPrice: number }[] }>(
      t,
      'GET',
      '/api/subscriptions/plans',
    )
    assert.equal(plans.status, 200)
    const basic = plans.body.items.find((p) => p.id === 'basic')!
    assert.deepEqual([basic.fee, basic.includedUnits, basic.unitPrice], [9, 1000, 0.02])
    assertProblem(
      await call(t, 'POST', '/api/subscriptions', { json: { planId: 'gold' }, token: as(customer) }),
      404,
      'not_found',
    )
    const created = await call<{ id: string; usage: number; userId: string }>(t, 'POST', '/api/subscriptions', {
      json: { planId: 'basic' },
      token: as(customer),
    })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.userId, customer.user.id)
    const id = created.body.id
    const usage = (quantity: number, headers: Record<string, string> = {}, extra = {}) =>
      call<{ id: string; quantity: number }>(t, 'POST', `/api/subscriptions/${id}/usage`, {
        json: { quantity, ...extra },
        token: as(customer),
        headers,
      })
    const first = await usage(900, { 'idempotency-key': `u-${randomUUID()}` })
    assert.equal(first.status, 201, first.text)
    const key = `u-${randomUUID()}`
    const a = await usage(250, { 'idempotency-key': key })
    assert.deepEqual((await usage(250, { 'idempotency-key': key })).body, a.body)
    assertProblem(await usage(251, { 'idempotency-key': key }), 422, 'idempotency_key_reused')
    await usage(3, {}, { clientId: 'c-1' })
    await usage(3, {}, { clientId: 'c-1' })
    assertProblem(await usage(0), 422, 'validation_failed')
    assertProblem(await usage(1, {}, { timestamp: '2001-01-01T00:00:00Z' }), 422, 'validation_failed')
    assertProblem(
      await call(t, 'POST', `/api/subscriptions/${id}/usage`, { json: { quantity: 1 }, token: as(other) }),
      404,
      'not_found',
    )
    assert.equal(
      (await call<{ usage: number }>(t, 'GET', `/api/subscriptions/${id}`, { token: as(customer) })).body.usage,
      1153,
    )

    const close = (key?: string, token = as(staff)) =>
      call<InvoiceOut>(t, 'POST', `/api/subscriptions/${id}/invoice`, {
        token,
        headers: key ? { 'idempotency-key': key } : {},
      })
    assertProblem(await close(), 400, 'idempotency_key_missing')
    assertProblem(await close('p1', as(customer)), 403, 'forbidden')
    const invoice = await close('p1')
    assert.equal(invoice.status, 201, invoice.text)
    // 9.00 + (1153 − 1000) × 0.02 = 12.06, exactly.
    assert.equal(invoice.body.total, 12.06)
    assert.deepEqual(
      invoice.body.lines.map((l) => [l.quantity, l.unitPrice, l.amount]),
      [
        [1, 9, 9],
        [153, 0.02, 3.06],
      ],
    )
    assert.equal(invoice.body.subscriptionId, id)
    assert.deepEqual((await close('p1')).body, invoice.body)
    // The next period starts empty: the fee alone.
    assert.equal(
      (await call<{ usage: number }>(t, 'GET', `/api/subscriptions/${id}`, { token: as(customer) })).body.usage,
      0,
    )
    const next = await close('p2')
    assert.equal(next.body.total, 9)
    assert.notEqual(next.body.number, invoice.body.number)
    assert.equal((await call(t, 'GET', `/api/invoices/${invoice.body.id}`, { token: as(customer) })).status, 200)
  })
})
