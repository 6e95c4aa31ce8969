// The end-to-end behaviour of the whole system, defined once and run against each way of running
// it (embedded.test.ts: one `mosaic start`; distributed.test.ts: a process per service on
// PostgreSQL and NATS). Everything goes through the public API of the gateway; mails arrive at a
// real SMTP server in this process. The system starts empty, so every figure is exact; what
// happens through events (invoices, mails, reports, thumbnails) is polled for, never slept on.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { adminEnv, login, ADMIN_EMAIL, ADMIN_PASSWORD } from '../auth.ts'
import {
  call as callNode,
  assertProblem,
  PASSWORD,
  type Reply,
  type CallOptions,
  type User,
  type TestNode,
} from '../identity/helpers.ts'
import { png, form } from '../files/helpers.ts'
import { startSmtp, SMTP_USER, SMTP_PASS, type TestSmtp } from '../notifications/smtp.ts'
import type { Order } from '../orders/helpers.ts'
import type { PaymentOut as Payment } from '../payments/helpers.ts'

/** Registers `fn` to run when the suite ends (infra.ts's `defer` takes one). */
export interface Cleanup {
  after(fn: () => Promise<void>): void
}

/**
 * Starts the system with `env` added to each process's environment (the first admin, the SMTP
 * server, quick polling: the same in every mode) and resolves with the gateway's URL.
 */
export type StartSystem = (cleanup: Cleanup, env: Record<string, string>) => Promise<string>

/** Shared by both modes: only timings that make a test run quick, nothing that changes behaviour. */
const timings = {
  EVENT_POLL_MS: '50',
  EVENT_RETRY_BASE_MS: '50',
  NOTIFICATIONS_POLL_MS: '50',
  NOTIFICATIONS_RETRY_BASE_MS: '100',
  NOTIFICATIONS_RETRY_MAX_MS: '500',
  // Long enough for the order's cancellation to follow its refund from another service.
  NOTIFICATIONS_REFUND_GRACE_MS: '5000',
  FILES_PROCESS_POLL_MS: '100',
  ORDERS_SAGA_POLL_MS: '100',
}

/** Polls `probe` until its value deep-equals `expected`; on time-out fails showing the last value. */
async function settles<T>(what: string, probe: () => Promise<T>, expected: T, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    try {
      assert.deepEqual(value, expected)
      return
    } catch (error) {
      if (Date.now() > until)
        throw Object.assign(error as Error, {
          message: `${what}: not so within ${timeoutMs} ms\n${(error as Error).message}`,
        })
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Polls `probe` until it returns something; on time-out fails naming `what`. */
async function arrives<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    assert.ok(Date.now() < until, `${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const today = (): string => new Date().toISOString().slice(0, 10)
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')

interface Product {
  id: string
  name: string
  description: string
  price: number
  currency: string
  category: string | null
  stock: number
  imageFileId: string | null
}
interface Invoice {
  id: string
  number: string
  orderId: string | null
  userId: string
  lines: unknown[]
  total: number
  currency: string
}
interface Notification {
  kind: string
  status: string
  orderId: string | null
  email: string | null
  subject: string | null
}
interface FileMeta {
  id: string
  filename: string
  contentType: string
  size: number
  sha256: string
  ownerId: string
  visibility: string
  thumbnail: string
}

/** Defines the suite under `mode`; `start` runs before its first test. */
export function scenario(mode: string, start: StartSystem): void {
  describe(`the system, ${mode}`, () => {
    const cleanups: (() => Promise<void>)[] = []
    let url = ''
    let smtp: TestSmtp
    let admin = ''
    /** The customer every test after registration acts as. */
    const ada = { id: '', email: `ada-${randomUUID().slice(0, 8)}@parity.test`, token: '' }
    /** Orders placed, by the tests that placed them. */
    const orders = { confirmed: '', declined: '', refunded: '' }

    before(
      async () => {
        smtp = await startSmtp()
        cleanups.push(() => smtp.stop())
        url = await start(
          {
            after: (fn) => {
              cleanups.push(fn)
            },
          },
          {
            ...adminEnv,
            ...timings,
            CATALOG_SEED_DEMO: 'false',
            SMTP_HOST: '127.0.0.1',
            SMTP_PORT: String(smtp.port),
            SMTP_USERNAME: SMTP_USER,
            SMTP_PASSWORD: SMTP_PASS,
            SMTP_FROM: 'Mosaic Shop <shop@parity.test>',
          },
        )
        admin = (await login(url, ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken
      },
      { timeout: 180_000 },
    )
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup()
    })

    // `call` reads only the node's url (test/helpers' version on main takes the url itself).
    const call = <T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<Reply<T>> =>
      callNode<T>({ url } as TestNode, method, path, options)
    const product = async (id: string): Promise<Product> => {
      const reply = await call<Product>('GET', `/api/products/${id}`)
      assert.equal(reply.status, 200, reply.text)
      return reply.body
    }
    const stockOf = async (...ids: string[]): Promise<number[]> =>
      Promise.all(ids.map(async (id) => (await product(id)).stock))
    /** The payment of an order as the customer sees it: its state and amounts. */
    const paymentOf = async (
      orderId: string,
    ): Promise<
      Pick<Payment, 'status' | 'amount' | 'captured' | 'refunded' | 'currency' | 'declineReason'> | undefined
    > => {
      const found = (
        await call<{ items: Payment[] }>('GET', '/api/payments?limit=100', { token: ada.token })
      ).body.items.find((p) => p.orderId === orderId)
      return (
        found && {
          status: found.status,
          amount: found.amount,
          captured: found.captured,
          refunded: found.refunded,
          currency: found.currency,
          declineReason: found.declineReason,
        }
      )
    }
    const place = (body: object, key = randomUUID()): Promise<Reply<Order>> =>
      call<Order>('POST', '/api/orders', {
        token: ada.token,
        json: body,
        headers: { 'idempotency-key': key, prefer: 'wait=10' },
      })
    const mail = (email: string, subject: string): Promise<string> =>
      arrives(
        `the mail "${subject}" to ${email}`,
        async () => smtp.byRecipient(email).find((m) => m.subject === subject)?.text,
      )

    test('catalog: staff create, read, change, list, search and delete products; others may not write', async () => {
      const create = (json: object, token = admin): Promise<Reply<Product>> =>
        call<Product>('POST', '/api/products', { token, json })
      const lamp = await create({
        id: 'lamp',
        name: 'Brass desk lamp',
        description: 'A warm reading light',
        price: '39.90',
        currency: 'EUR',
        category: 'lighting',
        stock: 5,
      })
      assert.equal(lamp.status, 201, lamp.text)
      const { createdAt, updatedAt, ...fields } = lamp.body as Product & { createdAt: string; updatedAt: string }
      assert.ok(createdAt && updatedAt)
      assert.deepEqual(fields, {
        id: 'lamp',
        name: 'Brass desk lamp',
        description: 'A warm reading light',
        price: 39.9,
        currency: 'EUR',
        category: 'lighting',
        stock: 5,
        imageFileId: null,
      })
      assert.equal(
        (
          await create({
            id: 'desk',
            name: 'Oak writing desk',
            description: 'Solid oak, two drawers',
            price: 249,
            currency: 'EUR',
            category: 'furniture',
            stock: 2,
          })
        ).status,
        201,
      )
      assert.equal(
        (await create({ id: 'stool', name: 'Kitchen stool', price: '19.00', currency: 'EUR', stock: 1 })).status,
        201,
      )

      assertProblem(await create({ id: 'lamp', name: 'Another lamp', price: 1 }), 409, 'conflict')
      assertProblem(
        await call('POST', '/api/products', { json: { name: 'Anonymous', price: 1 } }),
        401,
        'unauthenticated',
      )
      assertProblem(await create({ name: 'Bad price', price: -1 }), 422, 'validation_failed')

      const changed = await call<Product>('PATCH', '/api/products/lamp', { token: admin, json: { price: '34.50' } })
      assert.equal(changed.status, 200, changed.text)
      assert.equal(changed.body.price, 34.5)
      assert.equal((await product('lamp')).price, 34.5)

      const ids = async (path: string): Promise<string[]> => {
        const reply = await call<{ items: Product[] }>('GET', path)
        assert.equal(reply.status, 200, reply.text)
        return reply.body.items.map((p) => p.id)
      }
      assert.deepEqual(await ids('/api/products'), ['lamp', 'stool', 'desk'], 'by name')
      assert.deepEqual(await ids('/api/products?sort=-price'), ['desk', 'lamp', 'stool'])
      assert.deepEqual(await ids('/api/products?sort=price&limit=2'), ['stool', 'lamp'])
      assert.deepEqual(await ids('/api/products?category=lighting'), ['lamp'])
      assert.deepEqual(await ids('/api/products/search?q=reading%20light'), ['lamp'])
      assert.deepEqual(await ids('/api/products/search?q=oak'), ['desk'])
      assert.deepEqual(await ids('/api/products/search?q=nothing-like-it'), [])

      assert.equal((await call('DELETE', '/api/products/stool', { token: admin })).status, 204)
      assertProblem(await call('GET', '/api/products/stool'), 404, 'not_found')
      assert.deepEqual(await ids('/api/products'), ['lamp', 'desk'])
    })

    test('registration and sign-in: an account, a refused duplicate and weak password, a wrong password, tokens that work', async () => {
      const registered = await call<User>('POST', '/api/users', {
        json: { email: ada.email, password: PASSWORD, name: 'Ada Parity' },
      })
      assert.equal(registered.status, 201, registered.text)
      const { id, createdAt, ...user } = registered.body
      assert.match(id, /^[0-9a-f-]{36}$/)
      assert.ok(createdAt)
      assert.deepEqual(user, {
        tenantId: 'default',
        email: ada.email,
        name: 'Ada Parity',
        roles: ['customer'],
        mfaEnabled: false,
      })
      ada.id = id

      // A taken email is answered like a new account (nothing to enumerate), with an id of no one's.
      const again = await call<User>('POST', '/api/users', {
        json: { email: ada.email, password: PASSWORD, name: 'Ada Again' },
      })
      assert.equal(again.status, 201, again.text)
      assert.notEqual(again.body.id, ada.id)
      assertProblem(
        await call('POST', '/api/users', { json: { email: `weak-${ada.email}`, password: 'password', name: 'Weak' } }),
        422,
        'weak_password',
      )
      assertProblem(
        await call('POST', '/api/users/login', { json: { email: ada.email, password: 'not the password at all' } }),
        401,
        'invalid_credentials',
      )

      ada.token = (await login(url, ada.email, PASSWORD)).accessToken
      const me = await call<User>('GET', '/api/users/me', { token: ada.token })
      assert.equal(me.status, 200, me.text)
      assert.equal(me.body.id, ada.id)
      assertProblem(await call('GET', '/api/users/me', { token: 'not-a-token' }), 401, 'unauthenticated')
      assertProblem(
        await call('POST', '/api/products', { token: ada.token, json: { name: 'By a customer', price: 1 } }),
        403,
        'forbidden',
      )
    })

    test('a welcome mail goes out for the registration, and the customer sees it among their notifications with the notice of the repeated one', async () => {
      const text = await mail(ada.email, 'Welcome to Mosaic')
      assert.match(text, /^Hello Ada Parity,$/m)
      assert.ok(text.includes(`Your account ${ada.email} is ready.`), text)
      await settles(
        'the welcome notification',
        async () =>
          (await call<{ items: Notification[] }>('GET', '/api/notifications', { token: ada.token })).body.items
            .map((n) => [n.kind, n.status, n.email, n.subject])
            .sort(),
        [
          ['security', 'sent', ada.email, 'Someone tried to register your email at Mosaic'],
          ['welcome', 'sent', ada.email, 'Welcome to Mosaic'],
        ],
      )
    })

    test('checkout: a paid order is confirmed, its stock committed, its payment captured; a repeat of its key replays it', async () => {
      const key = randomUUID()
      const body = { items: [{ productId: 'lamp', quantity: 2 }], paymentMethod: { token: 'tok_visa' } }
      const placed = await place(body, key)
      assert.equal(placed.status, 200, placed.text)
      assert.equal(placed.headers.get('preference-applied'), 'wait=10')
      assert.equal(placed.headers.get('location'), `/api/orders/${placed.body.id}`)
      assert.equal(placed.body.status, 'CONFIRMED')
      assert.equal(placed.body.userId, ada.id)
      assert.equal(placed.body.total, 69)
      assert.deepEqual(placed.body.items, [
        { productId: 'lamp', name: 'Brass desk lamp', quantity: 2, unitPrice: 34.5, currency: 'EUR' },
      ])
      orders.confirmed = placed.body.id

      const again = await place(body, key)
      assert.equal(again.status, 200, again.text)
      assert.equal(again.headers.get('idempotent-replayed'), 'true')
      assert.equal(again.body.id, placed.body.id)
      assertProblem(
        await place({ ...body, items: [{ productId: 'lamp', quantity: 1 }] }, key),
        422,
        'idempotency_key_reused',
      )

      assert.deepEqual(await stockOf('lamp', 'desk'), [3, 2])
      assertProblem(
        await place({
          items: [
            { productId: 'lamp', quantity: 1 },
            { productId: 'no-such-product', quantity: 1 },
          ],
          paymentMethod: { token: 'tok_visa' },
        }),
        422,
        'unknown_product',
      )
      assert.deepEqual(await paymentOf(orders.confirmed), {
        status: 'captured',
        amount: 69,
        captured: 69,
        refunded: 0,
        currency: 'EUR',
        declineReason: null,
      })
      const listed = await call<{ items: Order[] }>('GET', '/api/orders', { token: ada.token })
      assert.deepEqual(
        listed.body.items.map((o) => [o.id, o.status]),
        [[orders.confirmed, 'CONFIRMED']],
      )
    })

    test('the confirmed order gets its invoice (JSON and printable) and a receipt mail', async () => {
      const invoice = await arrives('the invoice of the confirmed order', async () =>
        (await call<{ items: Invoice[] }>('GET', '/api/invoices', { token: ada.token })).body.items.find(
          (i) => i.orderId === orders.confirmed,
        ),
      )
      assert.deepEqual(
        {
          number: invoice.number,
          userId: invoice.userId,
          lines: invoice.lines,
          total: invoice.total,
          currency: invoice.currency,
        },
        {
          number: 'INV-default-000001',
          userId: ada.id,
          lines: [{ description: 'Brass desk lamp (lamp)', quantity: 2, unitPrice: 34.5, amount: 69 }],
          total: 69,
          currency: 'EUR',
        },
      )
      const printable = await call('GET', `/api/invoices/${invoice.id}?format=html`, { token: ada.token })
      assert.equal(printable.status, 200)
      assert.match(printable.headers.get('content-type') ?? '', /^text\/html/)
      assert.ok(printable.text.includes('<h1>Invoice INV-default-000001</h1>'), printable.text)

      const text = await mail(ada.email, `Your receipt for order ${orders.confirmed}`)
      assert.ok(text.includes('2 × Brass desk lamp (lamp) at €34.50: €69.00'), text)
      assert.ok(text.includes('Total: €69.00'), text)
    })

    test('a declined payment cancels the order and gives its reserved stock back; a cancellation mail says why', async () => {
      const placed = await place({
        items: [{ productId: 'desk', quantity: 2 }],
        paymentMethod: { token: 'tok_declined' },
      })
      assert.equal(placed.status, 200, placed.text)
      assert.deepEqual(
        [placed.body.status, placed.body.reason, placed.body.detail, placed.body.refunded],
        ['CANCELLED', 'payment_declined', 'card_declined', false],
      )
      orders.declined = placed.body.id
      assert.deepEqual(await stockOf('lamp', 'desk'), [3, 2], 'the reserved desks came back')
      assert.deepEqual(await paymentOf(orders.declined), {
        status: 'declined',
        amount: 498,
        captured: 0,
        refunded: 0,
        currency: 'EUR',
        declineReason: 'card_declined',
      })
      const text = await mail(ada.email, `Your order ${orders.declined} was cancelled`)
      assert.ok(text.includes(`Your order ${orders.declined} was cancelled: the payment was declined.`), text)
    })

    test('cancelling a confirmed order refunds it in full and puts its stock back; a second cancel is refused', async () => {
      const placed = await place({ productId: 'lamp', quantity: 1, paymentMethod: { token: 'tok_visa' } })
      assert.equal(placed.body.status, 'CONFIRMED', placed.text)
      orders.refunded = placed.body.id
      assert.deepEqual(await stockOf('lamp'), [2])

      const cancelled = await call<Order>('POST', `/api/orders/${orders.refunded}/cancel`, {
        token: ada.token,
        headers: { prefer: 'wait=10' },
      })
      assert.equal(cancelled.status, 200, cancelled.text)
      assert.deepEqual(
        [cancelled.body.status, cancelled.body.reason, cancelled.body.refunded],
        ['CANCELLED', 'cancelled_by_customer', true],
      )
      assert.deepEqual(await stockOf('lamp', 'desk'), [3, 2])
      assert.deepEqual(await paymentOf(orders.refunded), {
        status: 'refunded',
        amount: 34.5,
        captured: 34.5,
        refunded: 34.5,
        currency: 'EUR',
        declineReason: null,
      })
      assertProblem(
        await call('POST', `/api/orders/${orders.refunded}/cancel`, { token: ada.token }),
        409,
        'not_cancellable',
      )

      const text = await mail(ada.email, `Your order ${orders.refunded} was cancelled`)
      assert.ok(text.includes(`Your order ${orders.refunded} was cancelled: you cancelled it.`), text)
      // Whether the refund's event or the cancellation's reached notifications first decides the wording; both tell the refund.
      assert.match(text, /^We have refunded (€34\.50 to your payment method|your payment in full)\.$/m)
    })

    test('every mail and notification of the customer, once each: the refund told in the cancellation notice, not twice; the repeated registration told to the owner', async () => {
      const row = (kind: string, status: string, orderId: string | null): [string, string, string | null] => [
        kind,
        status,
        orderId,
      ]
      await settles(
        'the notifications of every event',
        async () =>
          (await call<{ items: Notification[] }>('GET', '/api/notifications', { token: ada.token })).body.items
            .map((n) => row(n.kind, n.status, n.orderId))
            .sort(),
        [
          row('cancellation', 'sent', orders.declined),
          row('cancellation', 'sent', orders.refunded),
          row('receipt', 'sent', orders.confirmed),
          row('receipt', 'sent', orders.refunded),
          row('refund', 'skipped', orders.refunded),
          row('security', 'sent', null),
          row('welcome', 'sent', null),
        ].sort(),
        30_000,
      )
      assert.deepEqual(
        smtp
          .byRecipient(ada.email)
          .map((m) => m.subject)
          .sort(),
        [
          'Welcome to Mosaic',
          'Someone tried to register your email at Mosaic',
          `Your order ${orders.declined} was cancelled`,
          `Your order ${orders.refunded} was cancelled`,
          `Your receipt for order ${orders.confirmed}`,
          `Your receipt for order ${orders.refunded}`,
        ].sort(),
      )
      const invoices = (await call<{ items: Invoice[] }>('GET', '/api/invoices', { token: ada.token })).body.items
      assert.deepEqual(invoices.map((i) => [i.number, i.orderId]).sort(), [
        ['INV-default-000001', orders.confirmed],
        ['INV-default-000002', orders.refunded],
      ])
    })

    test('files: an upload round-trips with its thumbnail, is private to its owner, and a public image becomes a product picture', async () => {
      const image = await png(64, 48)
      const uploaded = await call<FileMeta>('POST', '/api/files', {
        token: ada.token,
        body: form(image, 'desk.png', 'image/png'),
      })
      assert.equal(uploaded.status, 201, uploaded.text)
      const { id, createdAt, thumbnail, ...meta } = uploaded.body as FileMeta & { createdAt: string }
      assert.ok(createdAt)
      assert.ok(['pending', 'ready'].includes(thumbnail), thumbnail)
      assert.deepEqual(meta, {
        filename: 'desk.png',
        contentType: 'image/png',
        size: image.length,
        sha256: sha256(image),
        ownerId: ada.id,
        visibility: 'private',
      })
      const bytes = await fetch(new URL(`/api/files/${id}`, url), { headers: { authorization: `Bearer ${ada.token}` } })
      assert.equal(bytes.status, 200)
      assert.deepEqual(Buffer.from(await bytes.arrayBuffer()), image)
      assertProblem(await call('GET', `/api/files/${id}`), 404, 'not_found')
      await settles('the thumbnail', async () => {
        const thumbnail = await fetch(new URL(`/api/files/${id}/thumbnail`, url), {
          headers: { authorization: `Bearer ${ada.token}` },
        })
        await thumbnail.arrayBuffer()
        return [thumbnail.status, thumbnail.headers.get('content-type')]
      }, [200, 'image/webp'])

      // A product's picture is checked with the files service: a private file is refused, a public image taken.
      assertProblem(
        await call('PATCH', '/api/products/desk', { token: admin, json: { imageFileId: id } }),
        422,
        'validation_failed',
      )
      const picture = await call<FileMeta>('POST', '/api/files?visibility=public', {
        token: admin,
        body: form(await png(32, 32), 'oak.png', 'image/png'),
      })
      assert.equal(picture.status, 201, picture.text)
      assert.equal(picture.body.visibility, 'public')
      const pictured = await call<Product>('PATCH', '/api/products/desk', {
        token: admin,
        json: { imageFileId: picture.body.id },
      })
      assert.equal(pictured.status, 200, pictured.text)
      assert.equal((await product('desk')).imageFileId, picture.body.id)
      assert.equal(
        (await fetch(new URL(`/api/files/${picture.body.id}`, url))).status,
        200,
        'anyone reads a public file',
      )
      assert.equal((await call('DELETE', `/api/files/${id}`, { token: ada.token })).status, 204)
      assertProblem(await call('GET', `/api/files/${id}`, { token: ada.token }), 404, 'not_found')
    })

    test('analytics: the sales, top products, funnel and failed sign-ins of everything above, exactly', async () => {
      const viewed = await call('POST', '/api/analytics/events', {
        token: ada.token,
        json: { name: 'product_viewed', properties: { productId: 'lamp' } },
      })
      assert.equal(viewed.status, 202, viewed.text)
      const day = today()
      const report = async (path: string): Promise<unknown> => {
        const reply = await call<Record<string, unknown>>(
          'GET',
          `/api/analytics/reports/${path}${path.includes('?') ? '&' : '?'}from=${day}&to=${day}`,
          { token: admin },
        )
        assert.equal(reply.status, 200, reply.text)
        const { from, to, ...rest } = reply.body
        assert.deepEqual([from, to], [day, day])
        return rest
      }
      await settles('the sales report', () => report('sales'), {
        interval: 'day',
        rows: [{ period: day, currency: 'EUR', ordersPlaced: 3, ordersConfirmed: 2, revenue: 103.5, refunds: 34.5 }],
      })
      await settles('the top products', () => report('top-products'), {
        items: [{ productId: 'lamp', name: 'Brass desk lamp', currency: 'EUR', quantity: 3, revenue: 103.5 }],
      })
      await settles('the funnel', () => report('funnel'), {
        stages: [
          { stage: 'product_viewed', actors: 1, events: 1, conversion: null },
          { stage: 'order_placed', actors: 1, events: 3, conversion: 1 },
          { stage: 'order_confirmed', actors: 1, events: 2, conversion: 1 },
        ],
      })
      await settles('the failed sign-ins', () => report('failed-logins'), { rows: [{ day, failures: 1 }] })
      assertProblem(await call('GET', '/api/analytics/reports/sales', { token: ada.token }), 403, 'forbidden')
    })
  })
}
