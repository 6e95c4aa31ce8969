// Registration is limited per client address inside the identity service (AUTH_REGISTER_LIMIT per
// AUTH_REGISTER_WINDOW_SECONDS), counted in its database beside the sign-in failures.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  startIdentityNode,
  call,
  assertProblem,
  identityDb,
  uniqueEmail,
  PASSWORD,
  type TestNode,
  type User,
} from './helpers.ts'

const LIMIT = 3
const WINDOW_SECONDS = 600
let node: TestNode

before(async () => {
  // TRUST_PROXY: each request names its client address in X-Forwarded-For.
  node = await startIdentityNode({
    TRUST_PROXY: 'true',
    AUTH_REGISTER_LIMIT: String(LIMIT),
    AUTH_REGISTER_WINDOW_SECONDS: String(WINDOW_SECONDS),
  })
})
after(() => node?.stop())

const registerFrom = (ip: string, email = uniqueEmail('limit'), password = PASSWORD) =>
  call<User>(node, 'POST', '/api/users', {
    json: { email, password, name: 'Limit' },
    headers: { 'x-forwarded-for': ip },
  })
const accounts = async (email: string): Promise<number> =>
  (await identityDb(node).query('select 1 from users where email = $1', [email])).length

test('past the limit an address gets 429 with Retry-After and nothing is created; another address is unaffected', async () => {
  const ip = '10.9.0.1'
  assert.equal((await registerFrom(ip)).status, 201)
  // A refused attempt counts as well: the limit is on tries, not on accounts made.
  assertProblem(await registerFrom(ip, uniqueEmail('weak'), 'password'), 422, 'weak_password')
  assert.equal((await registerFrom(ip)).status, 201)

  const email = uniqueEmail('over')
  const over = await registerFrom(ip, email)
  assertProblem(over, 429, 'too_many_requests')
  const retryAfter = Number(over.headers.get('retry-after'))
  assert.ok(retryAfter > 0 && retryAfter <= WINDOW_SECONDS, `Retry-After ${over.headers.get('retry-after')}`)
  assert.equal(await accounts(email), 0, 'no account made past the limit')
  // Refused before the password is looked at: a weak one gets the same 429.
  assertProblem(await registerFrom(ip, uniqueEmail('weak'), 'password'), 429, 'too_many_requests')

  const elsewhere = uniqueEmail('elsewhere')
  assert.equal((await registerFrom('10.9.0.2', elsewhere)).status, 201, 'another address')
  assert.equal(await accounts(elsewhere), 1)
})

test('when the window has passed, the address may register again', async () => {
  const ip = '10.9.0.3'
  for (let i = 0; i < LIMIT; i++) assert.equal((await registerFrom(ip)).status, 201)
  assertProblem(await registerFrom(ip), 429, 'too_many_requests')
  // The window's end is kept with the count: move it into the past rather than wait ten minutes.
  await identityDb(node).query("update login_failures set locked_until = now() - interval '1 second' where key = $1", [
    `register:${ip}`,
  ])
  assert.equal((await registerFrom(ip)).status, 201)
})

test('IPv6 addresses of one /64 count as one client; another /64 is another', async () => {
  const net = '2001:db8:7:9'
  for (let i = 1; i <= LIMIT; i++) assert.equal((await registerFrom(`${net}::${i}`)).status, 201)
  const email = uniqueEmail('v6')
  assertProblem(await registerFrom(`${net}:ffff:1:2:3`, email), 429, 'too_many_requests')
  assert.equal(await accounts(email), 0)
  assert.equal((await registerFrom('2001:db8:7:a::1')).status, 201, 'the next /64')
})
