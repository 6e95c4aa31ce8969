// Password guessing. A node of its own that believes X-Forwarded-For (TRUST_PROXY=true), so each
// guess can come from a different address, as from a botnet, and the per-address lockout never
// stands in for the per-account one. Known and unknown emails must be indistinguishable.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { CloudEvent } from '../../src/kit/contract.ts'
import { spy } from '../helpers/bus.ts'
import {
  startIdentityNode,
  call,
  assertProblem,
  register,
  tryLogin,
  identityDb,
  cloneUsers,
  uniqueEmail,
  eventually,
  PASSWORD,
  type TestNode,
  type User,
  type Reply,
  type Problem,
} from './helpers.ts'

const ACCOUNT_THRESHOLD = 5
const IP_THRESHOLD = 10
const LOCK_SECONDS = 60

let node: TestNode
const locked: CloudEvent[] = []
let address = 0

/** A new client address for every request: 10.x.y.z. */
const nextIp = (): string => {
  address++
  return `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address & 255}`
}
const fromIp = (ip: string) => ({ headers: { 'x-forwarded-for': ip } })
const guess = (email: string, password = 'Wr0ng-guess-of-a-password', ip = nextIp()) =>
  tryLogin(node, email, password, fromIp(ip))

before(async () => {
  node = await startIdentityNode({
    TRUST_PROXY: 'true',
    AUTH_LOCKOUT_THRESHOLD: String(ACCOUNT_THRESHOLD),
    AUTH_IP_LOCKOUT_THRESHOLD: String(IP_THRESHOLD),
    // Long enough that a lockout cannot run out while a test looks at it.
    AUTH_LOCKOUT_BASE_SECONDS: String(LOCK_SECONDS),
  })
  // A subscriber of our own, as a security-alerting service would be: proves user.locked is delivered, not just written.
  await spy(
    node.node,
    { id: 'identity-test/user.locked', consumer: 'identity', source: 'identity', type: 'user.locked' },
    (event) => locked.push(event),
  )
})
after(() => node?.stop())

/** A problem document without what differs per request by design. */
function shape(reply: Reply): Record<string, unknown> {
  const { traceId: _traceId, instance: _instance, ...rest } = reply.body as Problem & Record<string, unknown>
  return rest
}

test('120 guesses from rotating addresses lock the account: 429 too_many_attempts with Retry-After, and the right password is refused too', async () => {
  const victim = await register(node)
  const statuses: number[] = []
  let last: Reply | undefined
  for (let i = 0; i < 120; i++) {
    last = await guess(victim.email, `guess-number-${i}-of-many`)
    statuses.push(last.status)
    assert.ok([401, 429].includes(last.status), `guess ${i}: ${last.text}`)
  }
  assert.deepEqual(
    statuses.slice(0, ACCOUNT_THRESHOLD),
    Array(ACCOUNT_THRESHOLD).fill(401),
    'the first failures are plain refusals',
  )
  assert.ok(
    statuses.slice(ACCOUNT_THRESHOLD).every((s) => s === 429),
    `locked after ${ACCOUNT_THRESHOLD} failures: ${statuses.join(',')}`,
  )
  const problem = assertProblem(last!, 429, 'too_many_attempts')
  assert.equal(problem.retryable, true)
  const retryAfter = Number(last!.headers.get('retry-after'))
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= LOCK_SECONDS,
    `Retry-After ${last!.headers.get('retry-after')}`,
  )

  const right = await guess(victim.email, PASSWORD)
  assertProblem(right, 429, 'too_many_attempts', 'the correct password while locked')
  assert.ok(Number(right.headers.get('retry-after')) > 0)
  // The same account however the email is spelt.
  assertProblem(await guess(victim.email.toUpperCase(), PASSWORD), 429, 'too_many_attempts', 'upper-case email')

  const [row] = await identityDb(node).query<{ failures: number; locked: boolean }>(
    'select failures, locked_until > now() as locked from login_failures where key = $1',
    [`account:default:${victim.email}`],
  )
  assert.ok(row, 'the failures are counted against the account')
  assert.equal(row.failures, ACCOUNT_THRESHOLD, 'guesses refused while locked are not even checked')
  assert.equal(row.locked, true)

  await eventually('user.locked to be delivered', async () =>
    locked.some((e) => (e.data as { userId: string }).userId === victim.id),
  )
  const event = locked.find((e) => (e.data as { userId: string }).userId === victim.id)!
  assert.equal(event.type, 'user.locked')
  assert.equal((event.data as { tenantId: string }).tenantId, 'default')
  assert.ok(Date.parse((event.data as { until: string }).until) > Date.now(), 'until is in the future')
})

test('guesses sent all at once are held to the same limit: the lock set by the first failures stops the rest, the right password among them too', async () => {
  const victim = await register(node)
  const guesses = Array.from({ length: 40 }, (_, i) => (i === 20 ? PASSWORD : `parallel-guess-${i}`))
  // All sent before any is answered, as an attacker with many connections would.
  const replies = await Promise.all(guesses.map((password) => guess(victim.email, password)))
  const checked = replies.filter((r) => r.status === 401).length
  for (const reply of replies) assert.ok([401, 429].includes(reply.status), reply.text)
  assertProblem(replies[20]!, 429, 'too_many_attempts', 'the right password, sent after the threshold was crossed')
  // A password check that was already queued when the lock fell may finish: a little slack, not 39.
  // (Before the lock was looked at again after the password check, all 39 were checked and the right one signed in.)
  assert.ok(
    checked <= ACCOUNT_THRESHOLD + 2,
    `${checked} guesses were checked and refused one by one; the limit is ${ACCOUNT_THRESHOLD}`,
  )
  assertProblem(await guess(victim.email, PASSWORD), 429, 'too_many_attempts')
})

test('a known and an unknown email get the same answer: the same status and body, plain and once locked', async () => {
  const known = await register(node)
  const unknown = uniqueEmail('nobody')
  const plainKnown = await guess(known.email)
  const plainUnknown = await guess(unknown)
  assertProblem(plainKnown, 401, 'invalid_credentials')
  assertProblem(plainUnknown, 401, 'invalid_credentials')
  assert.deepEqual(shape(plainKnown), shape(plainUnknown))
  assert.deepEqual(Object.keys(plainKnown.body as object).sort(), Object.keys(plainUnknown.body as object).sort())
  assert.equal(plainKnown.headers.get('www-authenticate'), plainUnknown.headers.get('www-authenticate'))

  for (let i = 1; i < ACCOUNT_THRESHOLD; i++) {
    await guess(known.email)
    await guess(unknown)
  }
  const lockedKnown = await guess(known.email)
  const lockedUnknown = await guess(unknown)
  assertProblem(lockedKnown, 429, 'too_many_attempts')
  assertProblem(lockedUnknown, 429, 'too_many_attempts', 'an email nobody registered locks the same way')
  assert.deepEqual(shape(lockedKnown), shape(lockedUnknown))
  assert.equal(lockedKnown.headers.get('retry-after') !== null, lockedUnknown.headers.get('retry-after') !== null)
  assert.ok(
    Math.abs(Number(lockedKnown.headers.get('retry-after')) - Number(lockedUnknown.headers.get('retry-after'))) <= 2,
  )
})

test('an unknown email costs a password check like a known one (no timing shortcut)', async () => {
  const template = await register(node)
  // Accounts sharing one hash: each is guessed once, so no lockout cuts a check short.
  const known = await cloneUsers(node, template, 10, 'timing')
  const unknown = Array.from({ length: 10 }, () => uniqueEmail('ghost'))
  await guess(uniqueEmail('warm-up'))
  const knownMs: number[] = []
  const unknownMs: number[] = []
  for (let i = 0; i < 10; i++) {
    const a = await guess(known[i]!)
    const b = await guess(unknown[i]!)
    assertProblem(a, 401, 'invalid_credentials')
    assertProblem(b, 401, 'invalid_credentials')
    knownMs.push(a.ms)
    unknownMs.push(b.ms)
  }
  // Medians, so one request stalled by a busy machine does not decide it.
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  // Only that both paths ran an argon2 check: an unknown email answered without one would be many times faster.
  assert.ok(
    median(unknownMs) >= 0.4 * median(knownMs),
    `unknown ${median(unknownMs).toFixed(1)} ms vs known ${median(knownMs).toFixed(1)} ms`,
  )
})

test(`${IP_THRESHOLD} failures from one address lock that address out, for every account, while other addresses still sign in`, async () => {
  const ip = nextIp()
  const user = await register(node)
  for (let i = 0; i < IP_THRESHOLD; i++)
    assertProblem(await guess(uniqueEmail('spray'), 'Spr4y-the-same-guess', ip), 401, 'invalid_credentials')
  const sprayed = await guess(user.email, PASSWORD, ip)
  assertProblem(sprayed, 429, 'too_many_attempts', 'a correct password from the locked address')
  assert.ok(Number(sprayed.headers.get('retry-after')) > 0)
  const elsewhere = await guess(user.email, PASSWORD)
  assert.equal(elsewhere.status, 200, `another address: ${elsewhere.text}`)
})

test('a successful sign-in resets the account count, so occasional typos never add up to a lockout', async () => {
  const user = await register(node)
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < ACCOUNT_THRESHOLD - 1; i++) assertProblem(await guess(user.email), 401, 'invalid_credentials')
    assert.equal((await guess(user.email, PASSWORD)).status, 200, `round ${round}`)
  }
})

test('a locked account answers the public routes the same as always (no 500), and registration is unaffected', async () => {
  const reply = await call(node, 'GET', '/api/products')
  assert.equal(reply.status, 200)
  const user: User = await register(node)
  assert.equal((await guess(user.email, PASSWORD)).status, 200)
})
