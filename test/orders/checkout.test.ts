// The checkout saga end to end through the gateway: the happy path and every failure path, with
// the compensation checked where it happened (the catalog's stock and reservation, the payment
// as the payments service recorded it); customer cancels; bad input; who sees which order.
// Payments runs on the simulated provider behind the payments suites' gate, so a test can make
// the provider refuse a capture or hold an authorization back.
import { test, describe, before, after } from 'node:test'
import { randomUUID } from 'node:crypto'
import assert from 'node:assert/strict'
import { startOrdersNode, servicesWith, type Harness, type Order, type Problem } from './helpers.ts'
import { gatedProvider } from '../payments/helpers.ts'
import { createPaymentsService } from '../../src/services/payments/service.ts'

let h: Harness
let alice: { token: string; userId: string }
let bob: { token: string; userId: string }
const provider = gatedProvider()
const gate = provider.gate

before(async () => {
  h = await startOrdersNode({}, servicesWith(createPaymentsService({ provider: provider.build })))
  alice = await h.customer()
  bob = await h.customer()
})
after(() => h?.stop())

const pay = (token: string) => ({ token })
const streamOf = async (orderId: string): Promise<string[]> =>
  (
    await h.node.services
      .get('orders')!
      .context.db.query<{ type: string }>('select type from events where stream_id = $1 order by version', [orderId])
  ).map((e) => e.type)

describe('the saga', () => {
  test('happy path: 202 PENDING with a Location, then CONFIRMED; stock committed, payment captured, order.confirmed published', async () => {
    const p1 = await h.product(10, '12.50')
    const p2 = await h.product(3, '0.99')
    const placed = await h.place(alice.token, {
      items: [
        { productId: p1, quantity: 2 },
        { productId: p2, quantity: 3 },
      ],
      paymentMethod: pay('tok_visa'),
    })
    assert.equal(placed.status, 202, placed.text)
    assert.equal(placed.body.status, 'PENDING')
    assert.equal(placed.headers.get('location'), `/api/orders/${placed.body.id}`)
    assert.equal(placed.body.total, 27.97)
    assert.deepEqual(
      placed.body.items.map((i) => [i.productId, i.quantity, i.unitPrice]),
      [
        [p1, 2, 12.5],
        [p2, 3, 0.99],
      ],
    )

    const order = await h.settle(alice.token, placed.body.id)
    assert.equal(order.status, 'CONFIRMED')
    assert.ok(order.paymentId)
    assert.deepEqual([await h.stock(p1), await h.stock(p2)], [8, 0])
    assert.equal(await h.reservation(order.id), 'committed')
    assert.deepEqual(await h.payment(order.id), { status: 'captured', amount: 2797, captured: 2797, refunded: 0 })
    assert.deepEqual(await streamOf(order.id), [
      'order.placed',
      'order.stock_reserved',
      'order.payment_authorized',
      'order.stock_committed',
      'order.payment_captured',
      'order.confirmed',
    ])
  })

  test('Prefer: wait=N answers with the final state, 200 and Preference-Applied', async () => {
    const p = await h.product(5)
    const placed = await h.place(
      alice.token,
      { productId: p, quantity: 1, paymentMethod: pay('tok_visa') },
      { wait: 10 },
    )
    assert.equal(placed.status, 200, placed.text)
    assert.equal(placed.body.status, 'CONFIRMED')
    assert.equal(placed.headers.get('preference-applied'), 'wait=10')
    assert.ok(placed.headers.get('location'))
  })

  test('out of stock: CANCELLED out_of_stock, stock untouched, no payment taken', async () => {
    const p = await h.product(1)
    const placed = await h.place(
      alice.token,
      { productId: p, quantity: 2, paymentMethod: pay('tok_visa') },
      { wait: 10 },
    )
    assert.equal(placed.body.status, 'CANCELLED')
    assert.equal(placed.body.reason, 'out_of_stock')
    assert.equal(await h.stock(p), 1)
    assert.equal(await h.payment(placed.body.id), null)
  })

  for (const [token, detail] of [
    ['tok_declined', 'card_declined'],
    ['tok_insufficient_funds', 'insufficient_funds'],
  ] as const) {
    test(`${token}: CANCELLED payment_declined (${detail}), stock released`, async () => {
      const p = await h.product(4)
      const placed = await h.place(
        alice.token,
        { items: [{ productId: p, quantity: 3 }], paymentMethod: pay(token) },
        { wait: 10 },
      )
      assert.equal(placed.body.status, 'CANCELLED')
      assert.equal(placed.body.reason, 'payment_declined')
      assert.equal(placed.body.detail, detail)
      assert.equal(await h.stock(p), 4, 'the reserved stock came back')
      assert.equal(await h.reservation(placed.body.id), 'released')
      assert.equal((await h.payment(placed.body.id))?.status, 'declined')
    })
  }

  test('tok_timeout: the saga times out, voids the authorization and releases the stock', async () => {
    const p = await h.product(4)
    const placed = await h.place(
      alice.token,
      { productId: p, quantity: 2, paymentMethod: pay('tok_timeout') },
      { wait: 10 },
    )
    assert.equal(placed.body.status, 'CANCELLED', placed.text)
    assert.equal(placed.body.reason, 'timeout')
    assert.equal(await h.stock(p), 4)
    assert.equal(await h.reservation(placed.body.id), 'released')
    const payment = await h.payment(placed.body.id)
    assert.equal(payment?.status, 'voided', 'a late authorization holds nothing')
    assert.equal(payment?.captured, 0)
  })

  test('tok_flaky: the first attempt fails (retryable), the retry succeeds: CONFIRMED', async () => {
    const p = await h.product(4)
    const placed = await h.place(
      alice.token,
      { productId: p, quantity: 1, paymentMethod: pay('tok_flaky') },
      { wait: 10 },
    )
    assert.equal(placed.body.status, 'CONFIRMED', placed.text)
    assert.equal(await h.stock(p), 3)
    assert.equal((await h.payment(placed.body.id))?.status, 'captured')
  })

  test('a customer cancelling a pending order: compensated, cancelled_by_customer', async () => {
    const p = await h.product(4)
    // tok_timeout keeps the saga waiting on the payment: the cancel lands while it runs.
    const placed = await h.place(alice.token, { productId: p, quantity: 2, paymentMethod: pay('tok_timeout') })
    await new Promise((resolve) => setTimeout(resolve, 150))
    const cancelled = await h.call<Order>('POST', `/api/orders/${placed.body.id}/cancel`, {
      token: alice.token,
      headers: { prefer: 'wait=10' },
    })
    assert.equal(cancelled.status, 200, cancelled.text)
    assert.equal(cancelled.body.status, 'CANCELLED')
    assert.equal(cancelled.body.reason, 'cancelled_by_customer')
    assert.equal(cancelled.body.refunded, false)
    assert.equal(await h.stock(p), 4)
    assert.equal((await h.payment(placed.body.id))?.status, 'voided')
    const again = await h.call<Problem>('POST', `/api/orders/${placed.body.id}/cancel`, { token: alice.token })
    assert.equal(again.status, 409)
    assert.equal(again.body.code, 'not_cancellable')
  })

  test('cancelling a confirmed order refunds it in full and puts its stock back', async () => {
    const p = await h.product(4, '5.00')
    const placed = await h.place(
      alice.token,
      { productId: p, quantity: 2, paymentMethod: pay('tok_visa') },
      { wait: 10 },
    )
    assert.equal(placed.body.status, 'CONFIRMED')
    assert.equal(await h.stock(p), 2)
    const cancelled = await h.call<Order>('POST', `/api/orders/${placed.body.id}/cancel`, { token: alice.token })
    assert.equal(cancelled.status, 202, cancelled.text)
    const order = await h.settle(alice.token, placed.body.id)
    assert.equal(order.status, 'CANCELLED')
    assert.equal(order.reason, 'cancelled_by_customer')
    assert.equal(order.refunded, true)
    assert.deepEqual(await h.payment(order.id), { status: 'refunded', amount: 1000, captured: 1000, refunded: 1000 })
    assert.equal(await h.stock(p), 4, 'stock = initial − confirmed quantities: this order no longer counts')
    assert.equal(await h.reservation(order.id), 'released')
    assert.deepEqual((await streamOf(order.id)).slice(-5), [
      'order.confirmed',
      'order.cancel_requested',
      'order.payment_refunded',
      'order.stock_released',
      'order.cancelled',
    ])
    const again = await h.call<Problem>('POST', `/api/orders/${order.id}/cancel`, { token: alice.token })
    assert.equal(again.status, 409)
    assert.equal(again.body.code, 'not_cancellable')
    assert.equal(await h.stock(p), 4)
  })

  test('a capture the provider refuses past the pivot: authorization voided, stock back, CANCELLED payment_declined', async () => {
    const p = await h.product(5, '3.00')
    // bad_request from the provider: not retryable, so a definitive no (asking again would not help).
    gate.refuseNext = 'capture'
    const placed = await h.place(
      alice.token,
      { productId: p, quantity: 2, paymentMethod: pay('tok_visa') },
      { wait: 10 },
    )
    assert.equal(gate.refuseNext, undefined, 'the capture reached the provider and was refused')
    assert.equal(placed.status, 200, placed.text)
    assert.equal(placed.body.status, 'CANCELLED')
    assert.equal(placed.body.reason, 'payment_declined')
    assert.match(placed.body.detail ?? '', /^the capture was refused \(bad_request\): simulated refusal of a capture$/)
    assert.equal(placed.body.refunded, false)
    assert.equal(await h.stock(p), 5, 'the committed stock came back')
    assert.equal(await h.reservation(placed.body.id), 'released')
    assert.deepEqual(await h.payment(placed.body.id), { status: 'voided', amount: 600, captured: 0, refunded: 0 })
    assert.deepEqual(await streamOf(placed.body.id), [
      'order.placed',
      'order.stock_reserved',
      'order.payment_authorized',
      'order.stock_committed',
      'order.payment_voided',
      'order.stock_released',
      'order.cancelled',
    ])
  })

  test('a commit refused past the pivot (the reservation was closed meanwhile): voided, CANCELLED out_of_stock', async () => {
    const p = await h.product(5)
    // Hold the authorization back so the reservation can be closed under the saga before it commits.
    let open!: () => void
    gate.holdBack = new Promise<void>((resolve) => {
      open = resolve
    })
    const calls = gate.authorizeCalls
    let placed: Awaited<ReturnType<Harness['place']>> | undefined
    try {
      placed = await h.place(alice.token, { productId: p, quantity: 2, paymentMethod: pay('tok_visa') })
      assert.equal(placed.status, 202, placed.text)
      for (const until = Date.now() + 5000; gate.authorizeCalls === calls; ) {
        assert.ok(Date.now() < until, 'the saga reached the authorization')
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      assert.equal(await h.stock(p), 3)
      await h.node.services.get('catalog')!.invoke('releaseStock', { orderId: placed.body.id }, Date.now() + 5000)
    } finally {
      gate.holdBack = undefined
      open()
    }
    const order = await h.settle(alice.token, placed.body.id)
    assert.equal(order.status, 'CANCELLED')
    assert.equal(order.reason, 'out_of_stock')
    assert.match(order.detail ?? '', /^the stock could not be committed \(reservation_closed\): /)
    assert.equal(await h.stock(p), 5, 'released once, not twice')
    assert.equal((await h.payment(order.id))?.status, 'voided')
    assert.deepEqual(await streamOf(order.id), [
      'order.placed',
      'order.stock_reserved',
      'order.payment_authorized',
      'order.payment_voided',
      'order.stock_released',
      'order.cancelled',
    ])
  })

  test('a cancel racing the saga is serialized with it: the order ends compensated or refunded, never half-way', async () => {
    const p = await h.product(40)
    const placed = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.place(alice.token, { productId: p, quantity: 1, paymentMethod: pay('tok_visa') }),
      ),
    )
    await Promise.all(
      placed.map(async (r, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 7))
        const reply = await h.call('POST', `/api/orders/${r.body.id}/cancel`, { token: alice.token })
        assert.ok([202, 409].includes(reply.status), reply.text)
      }),
    )
    const orders = await Promise.all(placed.map((r) => h.settle(alice.token, r.body.id)))
    for (const order of orders) {
      assert.equal(order.status, 'CANCELLED')
      assert.equal(order.reason, 'cancelled_by_customer')
      const payment = await h.payment(order.id)
      if (order.refunded) assert.equal(payment?.status, 'refunded')
      else assert.ok(payment === null || payment.status === 'voided', JSON.stringify(payment))
    }
    // Whether compensated before the commit or refunded after it, every order gave its stock back
    // (none released: the cancel came before the saga reserved anything).
    for (const order of orders) assert.ok([null, 'released'].includes(await h.reservation(order.id)), order.id)
    assert.equal(await h.stock(p), 40)
  })
})

describe('bad input: a clear 4xx, no order, no stock held', () => {
  const rejected = async (body: unknown, status: number, code: string, p: string): Promise<void> => {
    const before = (await h.call<{ items: Order[] }>('GET', '/api/orders?limit=100', { token: bob.token })).body.items
      .length
    const reply = await h.place(bob.token, body)
    assert.equal(reply.status, status, reply.text)
    assert.match(reply.headers.get('content-type') ?? '', /application\/problem\+json/)
    assert.equal((reply.body as unknown as Problem).code, code)
    assert.equal(
      (await h.call<{ items: Order[] }>('GET', '/api/orders?limit=100', { token: bob.token })).body.items.length,
      before,
      'no order was created',
    )
    assert.equal(await h.stock(p), 5, 'no stock held')
  }
  let p: string
  let dollars: string
  before(async () => {
    p = await h.product(5)
    dollars = await h.product(5, '3.00', 'USD')
  })

  test('unknown product → 422 unknown_product naming it', async () => {
    await rejected(
      {
        items: [
          { productId: p, quantity: 1 },
          { productId: 'no-such-product', quantity: 1 },
        ],
        paymentMethod: pay('tok_visa'),
      },
      422,
      'unknown_product',
      p,
    )
  })
  test('zero, negative, fractional and huge quantities → 422', async () => {
    for (const quantity of [0, -1, 1.5, 1_000_000_000])
      await rejected({ productId: p, quantity, paymentMethod: pay('tok_visa') }, 422, 'validation_failed', p)
  })
  test('mixed currencies → 422', async () => {
    await rejected(
      {
        items: [
          { productId: p, quantity: 1 },
          { productId: dollars, quantity: 1 },
        ],
        paymentMethod: pay('tok_visa'),
      },
      422,
      'validation_failed',
      p,
    )
  })
  test('malformed or missing payment token → 4xx', async () => {
    await rejected(
      { productId: p, quantity: 1, paymentMethod: { token: 'visa; drop table' } },
      422,
      'validation_failed',
      p,
    )
    await rejected({ productId: p, quantity: 1 }, 422, 'validation_failed', p)
  })
  test('no lines, both forms at once, unknown fields → 4xx', async () => {
    await rejected({ paymentMethod: pay('tok_visa') }, 422, 'validation_failed', p)
    await rejected(
      { items: [{ productId: p, quantity: 1 }], productId: p, quantity: 1, paymentMethod: pay('tok_visa') },
      422,
      'validation_failed',
      p,
    )
    await rejected({ items: [], paymentMethod: pay('tok_visa') }, 422, 'validation_failed', p)
    await rejected({ productId: p, quantity: 1, paymentMethod: pay('tok_visa'), price: 0 }, 422, 'validation_failed', p)
  })
  test('a customer cannot place an order for someone else → 403', async () => {
    await rejected(
      { productId: p, quantity: 1, paymentMethod: pay('tok_visa'), userId: alice.userId },
      403,
      'forbidden',
      p,
    )
  })
})

describe('who sees which order', () => {
  let aliceOrder: Order
  before(async () => {
    const p = await h.product(5)
    aliceOrder = (
      await h.place(alice.token, { productId: p, quantity: 1, paymentMethod: pay('tok_visa') }, { wait: 10 })
    ).body
  })

  test("another customer's order id → 404 for reading and cancelling, as if absent", async () => {
    for (const [method, path] of [
      ['GET', `/api/orders/${aliceOrder.id}`],
      ['POST', `/api/orders/${aliceOrder.id}/cancel`],
      ['GET', '/api/orders/no-such-order'],
    ] as const) {
      const reply = await h.call<Problem>(method, path, { token: bob.token })
      assert.equal(reply.status, 404, `${method} ${path}: ${reply.text}`)
      assert.equal(reply.body.code, 'not_found')
    }
    assert.equal((await h.call<Order>('GET', `/api/orders/${aliceOrder.id}`, { token: alice.token })).status, 200)
  })

  test("staff place an order for a customer: it is the customer's, and they see it", async () => {
    const p = await h.product(5)
    const placed = await h.place(h.adminToken, {
      productId: p,
      quantity: 1,
      paymentMethod: pay('tok_visa'),
      userId: bob.userId,
    })
    assert.equal(placed.status, 202, placed.text)
    assert.equal(placed.body.userId, bob.userId)
    assert.equal((await h.call<Order>('GET', `/api/orders/${placed.body.id}`, { token: bob.token })).status, 200)
  })

  test("staff cannot place an order for a user who does not exist or is another tenant's: 422, nothing charged or held", async () => {
    const p = await h.product(5)
    const identityDb = h.node.engine.forSchema('identity')
    await identityDb.query("insert into tenants (id, name) values ('elsewhere', 'Elsewhere') on conflict do nothing")
    const [stranger] = await identityDb.query<{ id: string }>(
      "insert into users (tenant_id, email, name, password_hash, roles) values ('elsewhere', $1, 'Stranger', 'x', '{customer}') returning id",
      [`stranger-${randomUUID()}@example.test`],
    )
    for (const userId of [randomUUID(), stranger!.id, 'not-a-uuid']) {
      const placed = await h.place(h.adminToken, { productId: p, quantity: 1, paymentMethod: pay('tok_visa'), userId })
      assert.equal(placed.status, 422, `${userId}: ${placed.text}`)
      assert.deepEqual(
        (placed.body as unknown as Problem).errors?.map((e) => [e.path, e.code]),
        [['/userId', 'unknown_user']],
      )
    }
    assert.equal(await h.stock(p), 5, 'no stock was held or committed')
    const [orders] = await h.node.engine
      .forSchema('orders')
      .query<{ n: bigint }>('select count(*) as n from events where data::text like $1', [`%${stranger!.id}%`])
    assert.equal(Number(orders!.n), 0, 'no order was recorded for them')
  })

  test('lists: mine only; staff see every order and filter by user and status; pages by cursor', async () => {
    const mine = await h.call<{ items: Order[] }>('GET', '/api/orders?limit=100', { token: bob.token })
    assert.ok(mine.body.items.every((o) => o.userId === bob.userId))
    const forbidden = await h.call<Problem>('GET', `/api/orders?userId=${alice.userId}`, { token: bob.token })
    assert.equal(forbidden.status, 403)
    assert.equal((await h.call('GET', `/api/orders/user/${alice.userId}`, { token: bob.token })).status, 404)

    const byStaff = await h.call<{ items: Order[] }>(
      'GET',
      `/api/orders/user/${alice.userId}?status=CONFIRMED&limit=100`,
      { token: h.adminToken },
    )
    assert.ok(byStaff.body.items.some((o) => o.id === aliceOrder.id))
    assert.ok(byStaff.body.items.every((o) => o.userId === alice.userId && o.status === 'CONFIRMED'))

    const seen: string[] = []
    let cursor: string | null = null
    do {
      const reply: { body: { items: Order[]; nextCursor: string | null } } = await h.call(
        'GET',
        `/api/orders?userId=${alice.userId}&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        { token: h.adminToken },
      )
      seen.push(...reply.body.items.map((o) => o.id))
      cursor = reply.body.nextCursor
    } while (cursor)
    const all = await h.call<{ items: Order[] }>('GET', `/api/orders/user/${alice.userId}?limit=100`, {
      token: alice.token,
    })
    assert.ok(all.body.items.length > 3, 'enough orders to page')
    assert.deepEqual(
      seen,
      all.body.items.map((o) => o.id),
      'pages are complete, in order, without repeats',
    )
    assert.equal((await h.call('GET', '/api/orders?cursor=bm9wZQ', { token: alice.token })).status, 400)
  })
})
