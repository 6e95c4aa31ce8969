// POST /api/analytics/events: who may send (signed in, or anonymous with a visitor id), what is
// refused (422 naming the field, 413 over the route's body limit), and that nothing is kept of a
// refused event.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { startAnalyticsNode, analyticsDb } from './helpers.ts'
import { call, assertProblem, assertFieldError, signUp, type TestNode, type Reply } from '../identity/helpers.ts'

let node: TestNode
let customer: Awaited<ReturnType<typeof signUp>>
before(async () => {
  node = await startAnalyticsNode()
  customer = await signUp(node)
})
after(() => node?.stop())

const VISITOR = 'visitor-0123456789'
const track = (
  json: unknown,
  headers: Record<string, string> = { 'x-visitor-id': VISITOR },
  token?: string,
): Promise<Reply> => call(node, 'POST', '/api/analytics/events', { json, headers, ...(token ? { token } : {}) })
const count = async (): Promise<number> =>
  Number(
    (await analyticsDb(node).query<{ n: bigint }>("select count(*) as n from events where source = 'client'"))[0]!.n,
  )

test('an anonymous visitor (X-Visitor-Id) is recorded with the visitor id in the default tenant', async () => {
  const reply = await track({ name: 'product_viewed', properties: { productId: 'prod-1', list: { position: 3 } } })
  assert.equal(reply.status, 202, reply.text)
  const { id } = reply.body as { id: string }
  const [row] = await analyticsDb(node).query<Record<string, unknown>>('select * from events where id = $1', [id])
  assert.equal(row!.type, 'product_viewed')
  assert.equal(row!.visitor_id, VISITOR)
  assert.equal(row!.user_id, null)
  assert.equal(row!.tenant_id, 'default')
  assert.equal(row!.subject, 'prod-1')
  assert.deepEqual(row!.data, { productId: 'prod-1', list: { position: 3 } })
})

test('the visitor id may come in the body instead; a signed-in caller needs none and is recorded as themselves', async () => {
  assert.equal((await track({ name: 'page_viewed', visitorId: VISITOR }, {})).status, 202)
  const past = new Date(Date.now() - 3_600_000).toISOString()
  const reply = await track(
    { name: 'product_viewed', properties: { productId: 'prod-2' }, timestamp: past },
    {},
    customer.tokens.accessToken,
  )
  assert.equal(reply.status, 202, reply.text)
  const [row] = await analyticsDb(node).query<Record<string, unknown>>(
    'select user_id, tenant_id, time from events where id = $1',
    [(reply.body as { id: string }).id],
  )
  assert.equal(row!.user_id, customer.user.id)
  assert.equal(row!.tenant_id, customer.user.tenantId)
  assert.equal((row!.time as Date).toISOString(), past, 'the client’s time is the event’s time')
})

test('credentials that are sent are checked: a bad token is a 401, not an anonymous event', async () => {
  const before = await count()
  assertProblem(
    await track({ name: 'page_viewed' }, { 'x-visitor-id': VISITOR, authorization: 'Bearer not-a-token' }),
    401,
    'unauthenticated',
  )
  assert.equal(await count(), before)
})

test('bad input is a 422 naming the field, and nothing is recorded', async () => {
  const before = await count()
  const future = new Date(Date.now() + 3_600_000).toISOString()
  const old = new Date(Date.now() - 30 * 86_400_000).toISOString()
  let deep: Record<string, unknown> = { leaf: 1 }
  for (let i = 0; i < 4; i++) deep = { deeper: deep }
  const cases: [unknown, Record<string, string>, string][] = [
    [{ name: 'page_viewed' }, {}, '/visitorId'],
    [{ name: 'page_viewed' }, { 'x-visitor-id': 'short' }, '/headers/x-visitor-id'],
    [{ name: 'page_viewed' }, { 'x-visitor-id': 'bad visitor id!' }, '/headers/x-visitor-id'],
    [{ name: 'page_viewed', visitorId: 'other-visitor-123' }, { 'x-visitor-id': VISITOR }, '/visitorId'],
    [{ name: 'Page Viewed' }, { 'x-visitor-id': VISITOR }, '/name'],
    [{ name: 'order.placed' }, { 'x-visitor-id': VISITOR }, '/name'],
    [{ name: `x${'y'.repeat(64)}` }, { 'x-visitor-id': VISITOR }, '/name'],
    [{ name: 'page_viewed', properties: [1, 2] }, { 'x-visitor-id': VISITOR }, '/properties'],
    [{ name: 'page_viewed', properties: 'text' }, { 'x-visitor-id': VISITOR }, '/properties'],
    [{ name: 'page_viewed', properties: deep }, { 'x-visitor-id': VISITOR }, '/properties'],
    [{ name: 'page_viewed', properties: { blob: 'x'.repeat(5000) } }, { 'x-visitor-id': VISITOR }, '/properties'],
    [{ name: 'page_viewed', timestamp: future }, { 'x-visitor-id': VISITOR }, '/timestamp'],
    [{ name: 'page_viewed', timestamp: old }, { 'x-visitor-id': VISITOR }, '/timestamp'],
    [{ name: 'page_viewed', timestamp: 'yesterday' }, { 'x-visitor-id': VISITOR }, '/timestamp'],
    [{ name: 'product_viewed', properties: {} }, { 'x-visitor-id': VISITOR }, '/properties/productId'],
    [
      { name: 'product_viewed', properties: { productId: '../etc' } },
      { 'x-visitor-id': VISITOR },
      '/properties/productId',
    ],
    [{ name: 'page_viewed', extra: 1 }, { 'x-visitor-id': VISITOR }, '/extra'],
  ]
  for (const [json, headers, path] of cases) assertFieldError(await track(json, headers), path)
  assert.equal(await count(), before)
})

test('a body over the route’s limit (8 KiB) is a 413, whether its length is declared or it comes in chunks', async () => {
  const before = await count()
  const big = { name: 'page_viewed', properties: { blob: 'x'.repeat(9000) } }
  const declared = await track(big)
  assertProblem(declared, 413, 'payload_too_large')

  // No Content-Length: counted as the chunks arrive.
  const chunked = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = request(
      `${node.url}/api/analytics/events`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-visitor-id': VISITOR, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        let body = ''
        res.on('data', (c: Buffer) => {
          body += c.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }))
      },
    )
    req.on('error', reject)
    const text = JSON.stringify(big)
    for (let i = 0; i < text.length; i += 1000) req.write(text.slice(i, i + 1000))
    req.end()
  })
  assert.equal(chunked.status, 413, chunked.body)
  assert.match(chunked.type, /^application\/problem\+json/)
  assert.equal(JSON.parse(chunked.body).code, 'payload_too_large')
  assert.equal(await count(), before)

  // Under the limit, the same shape is fine: the limit is the route's, not a general refusal.
  assert.equal((await track({ name: 'page_viewed', properties: { blob: 'x'.repeat(3000) } })).status, 202)
})

test('a route without a body limit of its own keeps the process-wide one', async () => {
  const reply = await call(node, 'POST', '/api/users/login', {
    json: { email: 'someone@example.test', password: 'x'.repeat(20_000) },
  })
  assert.notEqual(reply.status, 413, reply.text)
})
