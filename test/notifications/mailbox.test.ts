// With no SMTP_HOST (the embedded default) mails go to the development mailbox, shown to staff;
// and the routes' answers to bad input, other users and other tenants.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import {
  startNotificationsNode,
  settled,
  rowsFor,
  notificationsDb,
  publish,
  order,
  call,
  register,
  signUp,
  login,
  assertProblem,
  assertFieldError,
  type TestNode,
} from './helpers.ts'
import { ADMIN_EMAIL, ADMIN_PASSWORD, type Tokens } from '../auth.ts'
import { parseMessage } from './smtp.ts'
import { createAdmin } from '../../src/services/identity/admin.ts'
import { createPasswordHasher } from '../../src/services/identity/passwords.ts'
import type { identityContract } from '../../src/services/identity/contract.ts'
import type { ServiceDb } from '../../src/kit/index.ts'

let node: TestNode
let staff: Tokens
let customer: { id: string; email: string; tokens: Tokens }

before(async () => {
  node = await startNotificationsNode({})
  staff = (await signUp(node, { roles: ['staff'] })).tokens
  const user = await register(node, { name: '<img src=x onerror=alert(1)>' })
  customer = { id: user.id, email: user.email, tokens: await login(node, user.email) }
  await settled(node, user.id, 1)
})
after(() => node?.stop())

interface Page {
  items: { id: string; kind: string; status: string }[]
  nextCursor: string | null
}

test('with no SMTP server configured every mail is kept in the mailbox, as the message SMTP would have carried', async () => {
  const [row] = await rowsFor(node, customer.id)
  assert.equal(row!.status, 'sent')
  const [kept] = await notificationsDb(node).query<{ recipient: string; subject: string; raw: string }>(
    'select recipient, subject, raw from mailbox where notification_id = $1',
    [row!.id],
  )
  assert.ok(kept, 'the mail is in the mailbox')
  assert.equal(kept.recipient, customer.email)
  const message = parseMessage(kept.raw)
  assert.equal(message.messageId, row!.message_id)
  assert.equal(message.headers.get('to'), customer.email)
  assert.match(message.text, /Hello <img src=x onerror=alert\(1\)>,/)
  assert.match(message.html, /Hello &lt;img src=x onerror=alert\(1\)&gt;,/)

  // Nothing dropped: every notification sent is in the mailbox, the first admin's welcome included.
  const [counts] = await notificationsDb(node).query<{ sent: bigint; kept: bigint; admin: bigint }>(
    `select (select count(*) from notifications where status = 'sent') as sent, (select count(*) from mailbox) as kept,
            (select count(*) from mailbox where recipient = $1) as admin`,
    [ADMIN_EMAIL],
  )
  assert.equal(counts!.sent, counts!.kept)
  assert.equal(counts!.admin, 1n, 'the admin created at start got a welcome too')
})

test("staff see their tenant's mailbox as an HTML page, every value escaped; customers may not", async () => {
  const reply = await call(node, 'GET', '/api/notifications/mailbox', { token: staff.accessToken })
  assert.equal(reply.status, 200, reply.text)
  assert.match(reply.headers.get('content-type')!, /^text\/html; charset=utf-8/)
  assert.match(reply.headers.get('content-security-policy')!, /default-src 'none'/)
  assert.ok(reply.text.includes(`<strong class="to">${customer.email}</strong>`))
  assert.ok(reply.text.includes('Hello &lt;img src=x onerror=alert(1)&gt;,'), 'the text part, escaped once')
  assert.ok(reply.text.includes('Hello &amp;lt;img src=x onerror=alert(1)&amp;gt;,'), 'the HTML part shown as source')
  assert.doesNotMatch(reply.text, /<img/)

  // The same mails as data, asked for by ?format=json or by Accept.
  const asks: { query: string; headers: Record<string, string> }[] = [
    { query: '?format=json', headers: {} },
    { query: '', headers: { accept: 'application/json' } },
  ]
  for (const ask of asks) {
    const data = await call<{ destination: string; items: { recipient: string; text: string; html: string }[] }>(
      node,
      'GET',
      `/api/notifications/mailbox${ask.query}`,
      { token: staff.accessToken, headers: ask.headers },
    )
    assert.equal(data.status, 200, data.text)
    assert.equal(data.body.destination, 'mailbox')
    const mail = data.body.items.find((m) => m.recipient === customer.email)
    assert.ok(mail?.text.includes('Hello <img src=x onerror=alert(1)>,'), 'the text part as it was sent')
  }
  assertProblem(
    await call(node, 'GET', '/api/notifications/mailbox?format=xml', { token: staff.accessToken }),
    400,
    'invalid_parameters',
  )
  assertProblem(
    await call(node, 'GET', '/api/notifications/mailbox', { token: customer.tokens.accessToken }),
    403,
    'forbidden',
  )
  assertProblem(await call(node, 'GET', '/api/notifications/mailbox'), 401, 'unauthenticated')
  assertProblem(
    await call(node, 'GET', '/api/notifications/mailbox?limit=0', { token: staff.accessToken }),
    400,
    'invalid_parameters',
  )
})

test("another tenant's staff see none of this tenant's mails", async () => {
  const identityDb = node.node.services.get('identity')!.context.db as ServiceDb<typeof identityContract>
  const boss = await createAdmin(identityDb, createPasswordHasher({ concurrency: 1 }), {
    email: 'boss@acme.test',
    password: ADMIN_PASSWORD,
    tenant: 'acme',
  })
  assert.ok(boss)
  const acme = await signUp(node, { tenant: 'acme', roles: ['staff'] })
  await settled(node, acme.user.id, 1)
  await settled(node, boss.id, 1)
  const reply = await call(node, 'GET', '/api/notifications/mailbox', { token: acme.tokens.accessToken })
  assert.equal(reply.status, 200)
  assert.ok(reply.text.includes(acme.email))
  assert.ok(reply.text.includes('boss@acme.test'))
  assert.ok(!reply.text.includes(customer.email))
  assert.ok(!reply.text.includes(ADMIN_EMAIL))
})

test("a notification is its owner's alone: another user, staff and admins get 404", async () => {
  const [row] = await rowsFor(node, customer.id)
  assert.equal(
    (await call(node, 'GET', `/api/notifications/${row!.id}`, { token: customer.tokens.accessToken })).status,
    200,
  )
  const admin = await login(node, ADMIN_EMAIL, ADMIN_PASSWORD)
  const other = await signUp(node)
  for (const token of [other.tokens.accessToken, staff.accessToken, admin.accessToken]) {
    assertProblem(await call(node, 'GET', `/api/notifications/${row!.id}`, { token }), 404, 'not_found')
  }
  const list = await call<Page>(node, 'GET', '/api/notifications', { token: other.tokens.accessToken })
  assert.ok(!list.body.items.some((n) => n.id === row!.id))
})

test("pages of one's notifications: newest first, no overlap, no gap", async () => {
  for (let i = 0; i < 4; i++) await publish(node, 'order.confirmed', order(customer.id))
  await settled(node, customer.id, 5)
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const reply: Awaited<ReturnType<typeof call<Page>>> = await call<Page>(
      node,
      'GET',
      `/api/notifications?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      { token: customer.tokens.accessToken },
    )
    assert.equal(reply.status, 200, reply.text)
    assert.ok(reply.body.items.length <= 2)
    seen.push(...reply.body.items.map((n) => n.id))
    cursor = reply.body.nextCursor
  } while (cursor)
  const all = (await rowsFor(node, customer.id)).map((r) => r.id)
  assert.deepEqual([...seen].sort(), [...all].sort())
  assert.equal(new Set(seen).size, seen.length)
  const [first] = (await call<Page>(node, 'GET', '/api/notifications?limit=1', { token: customer.tokens.accessToken }))
    .body.items
  assert.equal(first!.kind, 'receipt', 'newest first: the welcome came before the receipts')
})

test('bad input to the routes gets a clear problem', async () => {
  const token = customer.tokens.accessToken
  assertProblem(await call(node, 'GET', '/api/notifications/not-a-uuid', { token }), 400, 'invalid_parameters')
  assertProblem(await call(node, 'GET', `/api/notifications/${randomUUID()}`, { token }), 404, 'not_found')
  assertProblem(await call(node, 'GET', '/api/notifications?limit=0', { token }), 400, 'invalid_parameters')
  assertProblem(await call(node, 'GET', '/api/notifications?limit=101', { token }), 400, 'invalid_parameters')
  assertProblem(await call(node, 'GET', '/api/notifications?cursor=garbage', { token }), 400, 'invalid_parameters')
  assertProblem(
    await call(
      node,
      'GET',
      `/api/notifications?cursor=${Buffer.from(JSON.stringify(['1', "x' or 1=1"])).toString('base64url')}`,
      { token },
    ),
    400,
    'invalid_parameters',
  )
  assertProblem(await call(node, 'GET', '/api/notifications'), 401, 'unauthenticated')

  const patch = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    call(node, 'PATCH', '/api/notifications/preferences', { token, body, headers })
  assertProblem(await patch('{}'), 422, 'validation_failed')
  assertFieldError(await patch('{"security":false}'), '/security')
  assertFieldError(await patch('{"receipt":"no"}'), '/receipt')
  assertProblem(await patch('{"welcome":false}'), 422, 'validation_failed')
  assertProblem(await patch('{"receipt":'), 400, 'malformed_json')
  assertProblem(
    await patch('receipt=false', { 'content-type': 'application/x-www-form-urlencoded' }),
    415,
    'unsupported_media_type',
  )
  assertProblem(
    await call(node, 'PATCH', '/api/notifications/preferences', { json: { receipt: false } }),
    401,
    'unauthenticated',
  )
  const prefs = await call(node, 'GET', '/api/notifications/preferences', { token })
  assert.deepEqual(
    prefs.body,
    { receipt: true, cancellation: true, refund: true, security: true },
    'no refused request changed anything',
  )
  assert.equal(
    (await notificationsDb(node).query('select 1 from preferences where user_id = $1', [customer.id])).length,
    0,
    'nothing half-written',
  )
  assert.deepEqual(
    (await call(node, 'PATCH', '/api/notifications/preferences', { token, json: { security: true } })).body,
    prefs.body,
    'asking for security notices is fine',
  )
})
