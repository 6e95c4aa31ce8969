// Notifications over SMTP, end to end: real registrations through the gateway and events through
// the real outbox and bus; a real SMTP server in this process receives the mails, and the tests
// assert on what it received. The server goes away, answers 421, refuses with 550 or 450.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startSmtp, SMTP_USER, SMTP_PASS, type TestSmtp, type Received } from './smtp.ts'
import { redeliver } from '../helpers/bus.ts'
import type { CloudEvent } from '../../src/kit/contract.ts'
import { drained, mailsInFlight } from '../helpers/drained.ts'
import {
  startNotificationsNode,
  publish,
  settled,
  rowsFor,
  recipientKnown,
  notificationsDb,
  order,
  call,
  register,
  login,
  eventually,
  uniqueEmail,
  assertFieldError,
  type TestNode,
} from './helpers.ts'

let smtp: TestSmtp
let node: TestNode

before(async () => {
  smtp = await startSmtp()
  node = await startNotificationsNode({
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_USERNAME: SMTP_USER,
    SMTP_PASSWORD: SMTP_PASS,
    SMTP_FROM: 'Mosaic Shop <shop@mosaic.test>',
    AUTH_LOCKOUT_THRESHOLD: '2',
  })
})
after(async () => {
  await node?.stop()
  await smtp?.stop()
})

/** A registered user whose welcome mail has arrived (and is returned). */
async function customer(name = 'Ann Example'): Promise<{ id: string; email: string; welcome: Received }> {
  const user = await register(node, { name })
  await settled(node, user.id, 1)
  const [welcome] = smtp.byRecipient(user.email)
  assert.ok(welcome, `no welcome mail for ${user.email}`)
  return { id: user.id, email: user.email, welcome }
}

const mailsTo = (email: string, subject: RegExp): Received[] =>
  smtp.byRecipient(email).filter((m) => subject.test(m.subject))

test("registering sends a welcome mail, both parts, the name escaped in HTML only, with the notification's Message-ID", async () => {
  const { id, email, welcome } = await customer('<script>alert(1)</script>')
  assert.deepEqual(welcome.to, [email])
  assert.equal(welcome.from, 'shop@mosaic.test')
  assert.equal(welcome.subject, 'Welcome to Mosaic')
  assert.match(welcome.headers.get('from')!, /Mosaic Shop <shop@mosaic\.test>/)
  assert.equal(welcome.headers.get('auto-submitted'), 'auto-generated')
  assert.match(welcome.text, /^Hello <script>alert\(1\)<\/script>,$/m, 'plain text carries the name as it is')
  assert.match(welcome.html, /Hello &lt;script&gt;alert\(1\)&lt;\/script&gt;,/)
  assert.doesNotMatch(welcome.html, /<script>/)
  assert.ok(welcome.html.includes(email))

  const [row] = await rowsFor(node, id)
  assert.equal(row!.status, 'sent')
  assert.equal(row!.attempts, 1)
  assert.equal(welcome.messageId, row!.message_id)
  assert.match(row!.message_id, /^<[0-9a-f-]{36}@mosaic\.test>$/)

  // The recipient sees it through the API.
  const tokens = await login(node, email)
  const list = await call<{ items: { id: string; kind: string; status: string; subject: string; email: string }[] }>(
    node,
    'GET',
    '/api/notifications',
    { token: tokens.accessToken },
  )
  assert.equal(list.status, 200, list.text)
  assert.deepEqual(
    list.body.items.map((n) => [n.kind, n.status, n.subject, n.email]),
    [['welcome', 'sent', 'Welcome to Mosaic', email]],
  )
  const one = await call<{ id: string; sentAt: string }>(node, 'GET', `/api/notifications/${row!.id}`, {
    token: tokens.accessToken,
  })
  assert.equal(one.status, 200, one.text)
  assert.ok(one.body.sentAt)
})

test('order.confirmed sends a receipt with every line, exact amounts and the total; values escaped in HTML', async () => {
  const { id, email } = await customer()
  const confirmed = order(id)
  await publish(node, 'order.confirmed', confirmed)
  await settled(node, id, 2)
  const [receipt] = mailsTo(email, /receipt/)
  assert.ok(receipt)
  assert.equal(receipt.subject, `Your receipt for order ${confirmed.orderId}`)
  assert.ok(receipt.text.includes('2 × Wireless mouse (prod-mouse) at $19.99: $39.98'), receipt.text)
  assert.ok(receipt.text.includes('1 × Keyboard <Pro> & "Co" (prod-kbd) at $0.10: $0.10'), receipt.text)
  assert.ok(receipt.text.includes('Total: $40.08'))
  assert.ok(receipt.html.includes('<td>Keyboard &lt;Pro&gt; &amp; &quot;Co&quot;</td>'), receipt.html)
  assert.ok(receipt.html.includes('<td align="right">$39.98</td>'))
  assert.ok(receipt.html.includes('<th align="right">$40.08</th>'))
  assert.doesNotMatch(receipt.html, /<Pro>/)
})

test('amounts in currencies with 0 and 3 minor digits are shown exactly', async () => {
  const { id, email } = await customer()
  await publish(
    node,
    'order.confirmed',
    order(id, {
      items: [{ productId: 'p1', name: 'Tea set', quantity: 3, unitPrice: 1500, currency: 'JPY' }],
      total: 4500,
      currency: 'JPY',
    }),
  )
  await publish(node, 'payment.refunded', {
    paymentId: 'pay-bhd',
    orderId: 'ord-bhd',
    userId: id,
    tenantId: 'default',
    amount: 1.005,
    currency: 'BHD',
    refundId: 'ref-1',
    refunded: 1.005,
  })
  await settled(node, id, 3)
  assert.ok(mailsTo(email, /receipt/)[0]!.text.includes('3 × Tea set (p1) at ¥1,500: ¥4,500'))
  assert.ok(mailsTo(email, /receipt/)[0]!.text.includes('Total: ¥4,500'))
  const [refund] = mailsTo(email, /Refund/)
  assert.equal(refund!.subject, 'Refund of BHD\u00a01.005 for order ord-bhd') // Intl puts a no-break space after the code
})

test('order.cancelled sends a notice with the reason and the (escaped) detail', async () => {
  const { id, email } = await customer()
  await publish(node, 'order.cancelled', {
    orderId: 'ord-cx-1',
    userId: id,
    tenantId: 'default',
    reason: 'out_of_stock',
    detail: 'prod-<b>x</b> sold out',
    refunded: false,
  })
  await settled(node, id, 2)
  const [notice] = mailsTo(email, /cancelled/)
  assert.equal(notice!.subject, 'Your order ord-cx-1 was cancelled')
  assert.ok(notice!.text.includes('was cancelled: some of the items are out of stock.'))
  assert.ok(notice!.text.includes('Details: prod-<b>x</b> sold out'))
  assert.ok(notice!.html.includes('Details: prod-&lt;b&gt;x&lt;/b&gt; sold out'))
  assert.doesNotMatch(notice!.text, /refund/i)
})

test('a refund on its own sends a refund notice after the grace period', async () => {
  const { id, email } = await customer()
  await publish(node, 'payment.refunded', {
    paymentId: 'pay-r',
    orderId: 'ord-r',
    userId: id,
    tenantId: 'default',
    amount: 12.5,
    currency: 'USD',
    refundId: 'ref-r',
    refunded: 20,
  })
  await settled(node, id, 2)
  const [refund] = mailsTo(email, /Refund/)
  assert.equal(refund!.subject, 'Refund of $12.50 for order ord-r')
  assert.ok(refund!.text.includes('refund ref-r'))
  assert.ok(refund!.text.includes('Refunded for this order so far: $20.00.'))
  assert.ok(refund!.html.includes('<strong>$12.50</strong>'))
})

test('a cancelled and refunded order gets one mail: the cancellation notice tells the refund, the refund notice is skipped', async () => {
  const { id, email } = await customer()
  // The saga refunds first, then records the cancellation; the two events race to this service.
  await publish(node, 'payment.refunded', {
    paymentId: 'pay-c',
    orderId: 'ord-cr',
    userId: id,
    tenantId: 'default',
    amount: 40.08,
    currency: 'USD',
    refundId: 'ref-c',
    refunded: 40.08,
  })
  await eventually('refund recorded', async () => (await rowsFor(node, id)).some((r) => r.kind === 'refund'))
  await publish(node, 'order.cancelled', {
    orderId: 'ord-cr',
    userId: id,
    tenantId: 'default',
    reason: 'cancelled_by_customer',
    detail: null,
    refunded: true,
  })
  const rows = await settled(node, id, 3)
  assert.deepEqual(rows.map((r) => [r.kind, r.status]).sort(), [
    ['cancellation', 'sent'],
    ['refund', 'skipped'],
    ['welcome', 'sent'],
  ])
  assert.match(rows.find((r) => r.kind === 'refund')!.last_error!, /told in the cancellation notice/)
  const mails = smtp.byRecipient(email).filter((m) => m !== undefined && !/Welcome/.test(m.subject))
  assert.equal(mails.length, 1, mails.map((m) => m.subject).join(', '))
  assert.ok(mails[0]!.text.includes('you cancelled it.'))
  assert.ok(mails[0]!.text.includes('We have refunded $40.08 to your payment method.'))

  // The other way round: the cancellation first; the refund notice that follows is still skipped.
  await publish(node, 'order.cancelled', {
    orderId: 'ord-cr2',
    userId: id,
    tenantId: 'default',
    reason: 'payment_declined',
    detail: null,
    refunded: true,
  })
  await publish(node, 'payment.refunded', {
    paymentId: 'pay-c2',
    orderId: 'ord-cr2',
    userId: id,
    tenantId: 'default',
    amount: 5,
    currency: 'USD',
    refundId: 'ref-c2',
    refunded: 5,
  })
  await settled(node, id, 5)
  assert.equal(mailsTo(email, /ord-cr2/).length, 1)
})

test('a locked account gets a security notice (real failed sign-ins)', async () => {
  const { id, email } = await customer()
  for (let i = 0; i < 3; i++)
    await call(node, 'POST', '/api/users/login', { json: { email, password: 'wrong password, surely' } })
  await settled(node, id, 2)
  const [notice] = mailsTo(email, /locked/)
  assert.equal(notice!.subject, 'Your Mosaic account was locked')
  assert.match(notice!.text, /is locked until .+ GMT\./)
})

test('the server down, then answering 421, then back: every mail arrives exactly once', async () => {
  const users = await Promise.all([customer('Down One'), customer('Down Two'), customer('Down Three')])
  await smtp.stop()
  const orders = users.map((u) => order(u.id))
  for (const o of orders) await publish(node, 'order.confirmed', o)
  const fresh = await register(node, { name: 'Registered during the outage' })
  await eventually('attempts against a closed port', async () => {
    const rows = await Promise.all(users.map((u) => rowsFor(node, u.id)))
    return rows.every((r) =>
      r.some((n) => n.kind === 'receipt' && n.attempts >= 2 && /ECONNREFUSED|connect/i.test(n.last_error ?? '')),
    )
  })
  smtp.mode = 'busy'
  await smtp.start()
  await eventually('attempts answered 421', async () => {
    const rows = await Promise.all(users.map((u) => rowsFor(node, u.id)))
    return rows.every((r) => r.some((n) => n.kind === 'receipt' && /421/.test(n.last_error ?? '')))
  })
  smtp.mode = 'ok'
  for (const u of users) {
    const rows = await settled(node, u.id, 2)
    const receipt = rows.find((r) => r.kind === 'receipt')!
    assert.equal(receipt.status, 'sent')
    assert.ok(receipt.attempts >= 3, `attempts ${receipt.attempts}`)
    assert.equal(receipt.last_error, null)
  }
  await settled(node, fresh.id, 1)
  await drained(node.node, [mailsInFlight]) // nothing left that could send a duplicate
  for (const [i, u] of users.entries()) assert.equal(mailsTo(u.email, new RegExp(orders[i]!.orderId)).length, 1)
  assert.equal(smtp.byRecipient(fresh.email).length, 1)
  const ids = smtp.received.map((m) => m.messageId)
  assert.equal(new Set(ids).size, ids.length, 'no Message-ID was received twice')
})

test('a permanent 550 for the recipient is marked failed with the SMTP error and not retried', async () => {
  const email = uniqueEmail('bounce')
  smtp.refuse.set(email, 550)
  const user = await register(node, { email })
  const [row] = await settled(node, user.id, 1)
  assert.equal(row!.status, 'failed')
  assert.equal(row!.attempts, 1)
  assert.match(row!.last_error!, /550/)
  assert.match(row!.last_error!, /No such user here/)
  await drained(node.node, [mailsInFlight])
  assert.equal((await rowsFor(node, user.id))[0]!.attempts, 1, 'not tried again')
  assert.equal(smtp.byRecipient(email).length, 0)
})

test('a temporary failure that never ends stops at NOTIFICATIONS_MAX_ATTEMPTS', async () => {
  const email = uniqueEmail('busy')
  smtp.refuse.set(email, 450)
  const user = await register(node, { email })
  const [row] = await settled(node, user.id, 1, 15_000)
  assert.equal(row!.status, 'failed')
  assert.equal(row!.attempts, 12)
  assert.match(row!.last_error!, /^gave up after 12 attempts: .*450/)
})

test("an order event that overtakes its user's registration waits for the address, then sends once", async () => {
  const userId = randomUUID()
  const email = uniqueEmail('late')
  await publish(node, 'order.confirmed', order(userId))
  await eventually('a first attempt without an address', async () =>
    (await rowsFor(node, userId)).some((r) => /no address known/.test(r.last_error ?? '')),
  )
  const identityDb = node.node.services.get('identity')!.context.db
  await identityDb.transaction((tx) =>
    tx.publish('user.registered' as never, { userId, tenantId: 'default', email, name: 'Late' } as never),
  )
  await recipientKnown(node, userId)
  const rows = await settled(node, userId, 2)
  assert.ok(rows.every((r) => r.status === 'sent'))
  assert.equal(smtp.byRecipient(email).length, 2)
})

test('a redelivered event sends once: the inbox absorbs it, and so does the (event id, kind) key without the inbox row', async () => {
  const { id, email } = await customer()
  const eventId = await publish(node, 'order.confirmed', order(id))
  await settled(node, id, 2)
  const [event] = await node.node.engine.admin.query<{ event: unknown }>(
    `select jsonb_build_object('id', $1::text, 'type', 'order.confirmed', 'source', '/mosaic/orders', 'specversion', '1.0', 'data', data) as event
     from notifications.notifications where event_id = $1`,
    [eventId],
  )
  const again = async () => {
    await redeliver(
      node.node,
      {
        id: 'notifications/orders.order.confirmed',
        consumer: 'notifications',
        source: 'orders',
        type: 'order.confirmed',
      },
      [event!.event as CloudEvent],
    )
  }
  await again()
  await notificationsDb(node).query('delete from mosaic_inbox where event_id = $1', [eventId])
  await again()
  assert.equal(
    (await notificationsDb(node).query('select 1 from mosaic_inbox where event_id = $1', [eventId])).length,
    1,
    'handled again',
  )
  await drained(node.node, [mailsInFlight])
  assert.equal((await rowsFor(node, id)).filter((r) => r.kind === 'receipt').length, 1)
  assert.equal(mailsTo(email, /receipt/).length, 1)
})

test('preferences: a kind turned off is recorded as skipped and not sent; security notices cannot be turned off', async () => {
  const { id, email } = await customer()
  const tokens = await login(node, email)
  const off = await call<Record<string, boolean>>(node, 'PATCH', '/api/notifications/preferences', {
    token: tokens.accessToken,
    json: { receipt: false },
  })
  assert.equal(off.status, 200, off.text)
  assert.deepEqual(off.body, { receipt: false, cancellation: true, refund: true, security: true })
  assertFieldError(
    await call(node, 'PATCH', '/api/notifications/preferences', {
      token: tokens.accessToken,
      json: { security: false, refund: false },
    }),
    '/security',
  )
  const now = await call<Record<string, boolean>>(node, 'GET', '/api/notifications/preferences', {
    token: tokens.accessToken,
  })
  assert.deepEqual(
    now.body,
    { receipt: false, cancellation: true, refund: true, security: true },
    'the refused request changed nothing',
  )

  await publish(node, 'order.confirmed', order(id))
  for (let i = 0; i < 3; i++)
    await call(node, 'POST', '/api/users/login', { json: { email, password: 'wrong password, surely' } })
  const rows = await settled(node, id, 3)
  assert.deepEqual(rows.map((r) => [r.kind, r.status]).sort(), [
    ['receipt', 'skipped'],
    ['security', 'sent'],
    ['welcome', 'sent'],
  ])
  assert.match(rows.find((r) => r.kind === 'receipt')!.last_error!, /preferences/)
  assert.equal(mailsTo(email, /receipt/).length, 0)
  assert.equal(mailsTo(email, /locked/).length, 1)

  // On again (the access token outlives the lockout of sign-ins): the next receipt is sent.
  assert.equal(
    (
      await call(node, 'PATCH', '/api/notifications/preferences', {
        token: tokens.accessToken,
        json: { receipt: true },
      })
    ).status,
    200,
  )
  await publish(node, 'order.confirmed', order(id))
  await settled(node, id, 4)
  assert.equal(mailsTo(email, /receipt/).length, 1)
})
