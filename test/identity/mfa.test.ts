// TOTP as a second factor: enrolment, the ±1 step window, replay, and malformed codes.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { totpCode } from '../../src/services/identity/totp.ts'
import {
  startIdentityNode, call, assertProblem, assertFieldError, assertNoSecrets, signUp, identityDb, sleep,
  PASSWORD, type TestNode, type Tokens, type User,
} from './helpers.ts'

const STEP_MS = 30_000

let node: TestNode
let user: User
let tokens: Tokens
let secret: string

before(async () => {
  // Wrong codes count as failed sign-ins; the threshold is raised so this file's deliberate ones never lock the account.
  node = await startIdentityNode({ AUTH_LOCKOUT_THRESHOLD: '50' })
  ;({ user, tokens } = await signUp(node))
})
after(() => node?.stop())

/**
 * Waits until the clock is at least 2 s away from a 30 s step boundary, so a code computed now
 * is checked by the server in the same step.
 */
async function awayFromBoundary(): Promise<void> {
  const into = Date.now() % STEP_MS
  if (into > STEP_MS - 2000) await sleep(STEP_MS - into + 1000)
  else if (into < 1000) await sleep(1000 - into)
}

/** The code for now + offsetMs, taken well inside a step. */
async function codeAt(offsetMs: number): Promise<string> {
  await awayFromBoundary()
  return totpCode(secret, Date.now() + offsetMs)
}

const signIn = (totp?: unknown) => call(node, 'POST', '/api/users/login', { json: { email: user.email, password: PASSWORD, ...(totp !== undefined ? { totp } : {}) } })
/** Forgets which step was last used, so a check is only about the time window (the replay guard has its own test). */
const forgetLastStep = () => identityDb(node).query('update users set totp_last_step = null where id = $1', [user.id])

test('enrolment gives a secret and an otpauth:// URI, and changes nothing until confirmed', async () => {
  const reply = await call<{ secret: string, uri: string }>(node, 'POST', '/api/users/me/mfa/totp', { token: tokens.accessToken })
  assert.equal(reply.status, 200, reply.text)
  secret = reply.body.secret
  assert.match(secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret')
  const uri = new URL(reply.body.uri)
  assert.equal(uri.protocol, 'otpauth:')
  assert.equal(uri.host, 'totp')
  assert.equal(uri.searchParams.get('secret'), secret)
  assert.equal(uri.searchParams.get('issuer'), 'Mosaic')
  assert.match(decodeURIComponent(uri.pathname), new RegExp(user.email.replace(/[.]/g, '\\.')))
  // Not on yet: a password alone still signs in, and /me says so.
  assert.equal((await signIn()).status, 200)
  assert.equal((await call<User>(node, 'GET', '/api/users/me', { token: tokens.accessToken })).body.mfaEnabled, false)
})

test('confirming with a wrong code is 401 invalid_code; with the current code TOTP is on', async () => {
  const current = await codeAt(0)
  const near = new Set([-STEP_MS, 0, STEP_MS].map((d) => totpCode(secret, Date.now() + d)))
  let wrong = '000000'
  for (let n = 1; near.has(wrong); n++) wrong = String(n).padStart(6, '0')
  assertProblem(await call(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code: wrong } }), 401, 'invalid_code')
  const far = totpCode(secret, Date.now() + 10 * STEP_MS)
  if (!near.has(far)) assertProblem(await call(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code: far } }), 401, 'invalid_code')

  const reply = await call<User>(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code: current } })
  assert.equal(reply.status, 200, reply.text)
  assert.equal(reply.body.mfaEnabled, true)
  assertNoSecrets(reply.body, 'verify')
  assert.equal((await call<User>(node, 'GET', '/api/users/me', { token: tokens.accessToken })).body.mfaEnabled, true)
  // Enrolling again over an active secret is refused: a stolen session cannot swap the authenticator.
  assertProblem(await call(node, 'POST', '/api/users/me/mfa/totp', { token: tokens.accessToken }), 409, 'conflict')
})

test('signing in without a code is 401 mfa_required, and a wrong password still says invalid_credentials', async () => {
  assertProblem(await signIn(), 401, 'mfa_required')
  assertProblem(await call(node, 'POST', '/api/users/login', { json: { email: user.email, password: 'Not-the-password-1' } }), 401, 'invalid_credentials')
  // A wrong password with a right code tells nothing about the code.
  assertProblem(await call(node, 'POST', '/api/users/login', { json: { email: user.email, password: 'Not-the-password-1', totp: await codeAt(0) } }), 401, 'invalid_credentials')
})

test('a code from 30 s ago or 30 s ahead is accepted (one step of drift)', async () => {
  for (const offset of [-STEP_MS, STEP_MS]) {
    await forgetLastStep()
    const reply = await signIn(await codeAt(offset))
    assert.equal(reply.status, 200, `offset ${offset / 1000} s: ${reply.text}`)
    assert.ok((reply.body as Tokens).accessToken)
  }
})

test('a code from 60 s ago or 60 s ahead is refused: 401 invalid_code', async () => {
  for (const offset of [-2 * STEP_MS, 2 * STEP_MS, -10 * STEP_MS, 10 * STEP_MS]) {
    await forgetLastStep()
    const code = await codeAt(offset)
    // Skip the one-in-a-million case where the far code equals a near one.
    if ([-STEP_MS, 0, STEP_MS].some((d) => totpCode(secret, Date.now() + d) === code)) continue
    assertProblem(await signIn(code), 401, 'invalid_code', `offset ${offset / 1000} s`)
  }
})

test('a code works once: the same code again is refused, and so is an older one', async () => {
  await forgetLastStep()
  const code = await codeAt(0)
  assert.equal((await signIn(code)).status, 200)
  assertProblem(await signIn(code), 401, 'invalid_code', 'the same code twice')
  // A code of the previous step, still inside the drift window, is older than the one just used.
  const previous = totpCode(secret, Date.now() - STEP_MS)
  if (previous !== code) assertProblem(await signIn(previous), 401, 'invalid_code', 'an older code after a newer one')
  // At once, in parallel: only one of the two sign-ins may spend it.
  await forgetLastStep()
  const again = await codeAt(0)
  const both = await Promise.all([signIn(again), signIn(again)])
  assert.deepEqual(both.map((r) => r.status).sort(), [200, 401], both.map((r) => r.text).join(' | '))
})

test('garbage codes are 422 at /totp (or /code), never a 500 and never a sign-in', async () => {
  const garbage: unknown[] = ['12345', '1234567', 'abcdef', '12 345', ' 123456', '123456 ', '١٢٣٤٥٦', '12345a', '', '0x1234', 123456, null, ['123456'], { code: '123456' }]
  for (const code of garbage) {
    assertFieldError(await signIn(code), '/totp')
    assertFieldError(await call(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code } }), '/code')
  }
})

test('mfa_required is not counted as a failure: the right password without a code never locks the account', async () => {
  // The threshold here is 50; count directly instead of hitting it.
  const key = `account:default:${user.email}`
  await identityDb(node).query('delete from login_failures where key = $1', [key])
  for (let i = 0; i < 3; i++) assertProblem(await signIn(), 401, 'mfa_required')
  const [row] = await identityDb(node).query('select failures from login_failures where key = $1', [key])
  assert.equal(row, undefined)
})
