// The route table's rateLimit at the edge, on the tracking route (60 a minute per client): the
// 61st request from one address is a 429 problem with Retry-After, while a signed-in user from
// the same address (counted by user id) and other routes (the default 1000 a minute) go on as before.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startAnalyticsNode, analyticsDb } from './helpers.ts'
import { call, assertProblem, signUp, type TestNode } from '../identity/helpers.ts'

let node: TestNode
before(async () => {
  node = await startAnalyticsNode()
})
after(() => node?.stop())

test('past the limit: 429 too_many_requests with Retry-After; nothing recorded; others unaffected', async () => {
  const customer = await signUp(node)
  const anonymous = () =>
    call(node, 'POST', '/api/analytics/events', {
      json: { name: 'page_viewed' },
      headers: { 'x-visitor-id': 'visitor-rate-limit' },
    })
  for (let i = 1; i <= 60; i++) {
    const reply = await anonymous()
    assert.equal(reply.status, 202, `request ${i}: ${reply.text}`)
    assert.equal(reply.headers.get('ratelimit-remaining'), String(60 - i))
  }
  const [before] = await analyticsDb(node).query<{ n: bigint }>('select count(*) as n from events')
  const refused = await call(node, 'POST', '/api/analytics/events', {
    json: { name: 'page_viewed' },
    headers: { 'x-visitor-id': 'another-visitor-id' },
  })
  const problem = assertProblem(refused, 429, 'too_many_requests')
  assert.equal(problem.retryable, true)
  const retryAfter = Number(refused.headers.get('retry-after'))
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
    `Retry-After: ${refused.headers.get('retry-after')}`,
  )
  // A new visitor id from the same address does not escape the limit (the id is the client's to choose).
  const [afterwards] = await analyticsDb(node).query<{ n: bigint }>('select count(*) as n from events')
  assert.equal(afterwards!.n, before!.n, 'a refused request records nothing')

  const signedIn = await call(node, 'POST', '/api/analytics/events', {
    json: { name: 'page_viewed' },
    token: customer.tokens.accessToken,
  })
  assert.equal(signedIn.status, 202, 'a signed-in user has an allowance of their own')
  assert.equal(signedIn.headers.get('ratelimit-remaining'), '59')
  const other = await call(node, 'GET', '/api/products')
  assert.equal(other.status, 200, 'a route without a limit of its own has the default allowance, apart from this one')
  assert.equal(other.headers.get('ratelimit-limit'), '1000')
})

test('the 429 is listed in the API reference for a limited route only', async () => {
  const doc = (
    await call<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(
      node,
      'GET',
      '/openapi.json',
    )
  ).body
  assert.ok(doc.paths['/api/analytics/events']!.post!.responses['429'])
  assert.equal(doc.paths['/api/products']!.get!.responses['429'], undefined)
})
