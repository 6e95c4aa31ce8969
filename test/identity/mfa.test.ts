// TOTP as a second factor: enrolment (with the current password), the ±1 step window, replay,
// malformed codes, recovery codes, and switching it off.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { totpCode } from '../../src/services/identity/totp.ts'
import {
  startIdentityNode,
  call,
  assertProblem,
  assertFieldError,
  assertNoSecrets,
  signUp,
  identityDb,
  sleep,
  eventually,
  PASSWORD,
  type TestNode,
  type Tokens,
  type User,
} from './helpers.ts'

const STEP_MS = 30_000

let node: TestNode
let user: User
let tokens: Tokens
let secret: string
let recoveryCodes: string[]

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

const signIn = (totp?: unknown) =>
  call(node, 'POST', '/api/users/login', {
    json: { email: user.email, password: PASSWORD, ...(totp !== undefined ? { totp } : {}) },
  })
/** Forgets which step was last used, so a check is only about the time window (the replay guard has its own test). */
const forgetLastStep = () => identityDb(node).query('update users set totp_last_step = null where id = $1', [user.id])

test('enrolment gives a secret and an otpauth:// URI, and changes nothing until confirmed', async () => {
  const reply = await call<{ secret: string; uri: string }>(node, 'POST', '/api/users/me/mfa/totp', {
    token: tokens.accessToken,
    json: { currentPassword: PASSWORD },
  })
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
  assertProblem(
    await call(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code: wrong } }),
    401,
    'invalid_code',
  )
  const far = totpCode(secret, Date.now() + 10 * STEP_MS)
  if (!near.has(far))
    assertProblem(
      await call(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code: far } }),
      401,
      'invalid_code',
    )

  const reply = await call<User & { recoveryCodes: string[] }>(node, 'POST', '/api/users/me/mfa/totp/verify', {
    token: tokens.accessToken,
    json: { code: current },
  })
  assert.equal(reply.status, 200, reply.text)
  assert.equal(reply.body.mfaEnabled, true)
  ;({ recoveryCodes } = reply.body)
  assert.equal(recoveryCodes.length, 10)
  assert.equal(new Set(recoveryCodes).size, 10)
  for (const code of recoveryCodes)
    assert.match(code, /^[0-9a-f]{8}(-[0-9a-f]{8}){3}$/, '128 random bits as 32 hex digits')
  const { recoveryCodes: _, ...rest } = reply.body
  assertNoSecrets(rest, 'verify')
  // Stored as SHA-256 hashes only: no code appears in the table.
  const stored = await identityDb(node).query<{ code_hash: string }>(
    'select code_hash from recovery_codes where user_id = $1',
    [user.id],
  )
  assert.equal(stored.length, 10)
  const hashes = JSON.stringify(stored)
  for (const code of recoveryCodes)
    assert.ok(!hashes.includes(code) && !hashes.includes(code.replaceAll('-', '')), 'a code stored in clear')
  assert.equal((await call<User>(node, 'GET', '/api/users/me', { token: tokens.accessToken })).body.mfaEnabled, true)
  // Enrolling again over an active secret is refused: a stolen session cannot swap the authenticator.
  assertProblem(
    await call(node, 'POST', '/api/users/me/mfa/totp', {
      token: tokens.accessToken,
      json: { currentPassword: PASSWORD },
    }),
    409,
    'conflict',
  )
})

test('signing in without a code is 401 mfa_required, and a wrong password still says invalid_credentials', async () => {
  assertProblem(await signIn(), 401, 'mfa_required')
  assertProblem(
    await call(node, 'POST', '/api/users/login', { json: { email: user.email, password: 'Not-the-password-1' } }),
    401,
    'invalid_credentials',
  )
  // A wrong password with a right code tells nothing about the code.
  assertProblem(
    await call(node, 'POST', '/api/users/login', {
      json: { email: user.email, password: 'Not-the-password-1', totp: await codeAt(0) },
    }),
    401,
    'invalid_credentials',
  )
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
  const garbage: unknown[] = [
    '12345',
    '1234567',
    'abcdef',
    '12 345',
    ' 123456',
    '123456 ',
    '١٢٣٤٥٦',
    '12345a',
    '',
    '0x1234',
    123456,
    null,
    ['123456'],
    { code: '123456' },
  ]
  for (const code of garbage) {
    assertFieldError(await signIn(code), '/totp')
    assertFieldError(
      await call(node, 'POST', '/api/users/me/mfa/totp/verify', { token: tokens.accessToken, json: { code } }),
      '/code',
    )
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

const accountKey = (email: string) => `account:default:${email}`
const failuresOf = async (email: string): Promise<number> =>
  Number(
    (
      await identityDb(node).query<{ failures: number }>('select failures from login_failures where key = $1', [
        accountKey(email),
      ])
    )[0]?.failures ?? 0,
  )
const enrol = (token: string, body?: unknown) =>
  call<{ secret: string }>(node, 'POST', '/api/users/me/mfa/totp', {
    token,
    ...(body !== undefined ? { json: body } : {}),
  })
const disable = (token: string, body?: unknown) =>
  call<User>(node, 'POST', '/api/users/me/mfa/disable', { token, ...(body !== undefined ? { json: body } : {}) })
const signInWithRecovery = (recoveryCode: string) =>
  call<Tokens>(node, 'POST', '/api/users/login', { json: { email: user.email, password: PASSWORD, recoveryCode } })
/** Waits for a security mail with this subject to the user (through the notifications service). */
const securityMail = (token: string, subject: RegExp) =>
  eventually(`a mail "${subject.source}"`, async () => {
    const list = await call<{ items: { kind: string; subject: string | null }[] }>(node, 'GET', '/api/notifications', {
      token,
    })
    return list.body.items.find((n) => n.kind === 'security' && n.subject !== null && subject.test(n.subject))
  })

test('enrolment without the current password, or with a wrong one, is refused and counted like a failed sign-in', async () => {
  const other = await signUp(node)
  assertFieldError(await enrol(other.tokens.accessToken), '/')
  assertFieldError(await enrol(other.tokens.accessToken, {}), '/currentPassword')
  assert.equal(await failuresOf(other.email), 0, 'a missing password is not a guess')
  const wrong = assertFieldError(
    await enrol(other.tokens.accessToken, { currentPassword: 'Not-the-password-1' }),
    '/currentPassword',
  )
  assert.equal(wrong.errors![0]!.code, 'current_password')
  assert.equal(await failuresOf(other.email), 1, 'a wrong password counts against the account')
  const [row] = await identityDb(node).query<{ totp_pending: string | null }>(
    'select totp_pending from users where id = $1',
    [other.user.id],
  )
  assert.equal(row!.totp_pending, null, 'nothing enrolled')
  // While the account is locked (as after failed sign-ins), even the right password is 429 with Retry-After.
  await identityDb(node).query(
    "update login_failures set locked_until = now() + interval '120 seconds' where key = $1",
    [accountKey(other.email)],
  )
  const locked = await enrol(other.tokens.accessToken, { currentPassword: PASSWORD })
  assertProblem(locked, 429, 'too_many_attempts')
  assert.ok(Number(locked.headers.get('retry-after')) > 0, 'Retry-After')
  await identityDb(node).query('delete from login_failures where key = $1', [accountKey(other.email)])
  assert.equal((await enrol(other.tokens.accessToken, { currentPassword: PASSWORD })).status, 200)
})

test('a stolen access token alone cannot switch MFA off', async () => {
  await identityDb(node).query('delete from login_failures where key = $1', [accountKey(user.email)])
  assertFieldError(await disable(tokens.accessToken, {}), '/')
  assertFieldError(await disable(tokens.accessToken), '/')
  assertFieldError(await disable(tokens.accessToken, { currentPassword: 'Not-the-password-1' }), '/currentPassword')
  // A well-formed code that is not one of the account's.
  assertProblem(
    await disable(tokens.accessToken, { recoveryCode: '0123abcd-0123abcd-0123abcd-0123abcd' }),
    401,
    'invalid_code',
  )
  assert.equal(await failuresOf(user.email), 2, 'both guesses are counted')
  assert.equal((await call<User>(node, 'GET', '/api/users/me', { token: tokens.accessToken })).body.mfaEnabled, true)
  assertProblem(await signIn(), 401, 'mfa_required')
})

test('a recovery code signs in once, in place of a one-time code; its use is mailed to the owner', async () => {
  const first = await signInWithRecovery(recoveryCodes[0]!)
  assert.equal(first.status, 200, first.text)
  assert.ok(first.body.accessToken)
  assertProblem(await signInWithRecovery(recoveryCodes[0]!), 401, 'invalid_code', 'the same code twice')
  // As typed: upper case, no dashes.
  assert.equal((await signInWithRecovery(recoveryCodes[1]!.replaceAll('-', '').toUpperCase())).status, 200)
  // Two sign-ins at once with one code: only one gets in.
  const both = await Promise.all([signInWithRecovery(recoveryCodes[2]!), signInWithRecovery(recoveryCodes[2]!)])
  assert.deepEqual(both.map((r) => r.status).sort(), [200, 401], both.map((r) => r.text).join(' | '))
  // A wrong password with a right code tells nothing about the code, and does not spend it.
  assertProblem(
    await call(node, 'POST', '/api/users/login', {
      json: { email: user.email, password: 'Not-the-password-1', recoveryCode: recoveryCodes[3] },
    }),
    401,
    'invalid_credentials',
  )
  const [left] = await identityDb(node).query<{ n: number }>(
    'select count(*)::int as n from recovery_codes where user_id = $1 and used_at is null',
    [user.id],
  )
  assert.equal(left!.n, 7)
  await securityMail(tokens.accessToken, /recovery code was used/)
})

test('MFA is switched off with the current password, or with a recovery code; each is mailed to the owner', async () => {
  const off = await disable(tokens.accessToken, { currentPassword: PASSWORD })
  assert.equal(off.status, 200, off.text)
  assert.equal(off.body.mfaEnabled, false)
  assert.equal((await signIn()).status, 200, 'a password alone signs in again')
  const [codes] = await identityDb(node).query<{ n: number }>(
    'select count(*)::int as n from recovery_codes where user_id = $1',
    [user.id],
  )
  assert.equal(codes!.n, 0, 'the recovery codes are gone with it')
  assertProblem(await disable(tokens.accessToken, { currentPassword: PASSWORD }), 409, 'conflict', 'already off')

  // On again (new secret, new codes), then off with a recovery code: the authenticator is lost.
  secret = (await enrol(tokens.accessToken, { currentPassword: PASSWORD })).body.secret
  await forgetLastStep()
  const again = await call<User & { recoveryCodes: string[] }>(node, 'POST', '/api/users/me/mfa/totp/verify', {
    token: tokens.accessToken,
    json: { code: await codeAt(0) },
  })
  assert.equal(again.status, 200, again.text)
  assert.ok(!again.body.recoveryCodes.some((c) => recoveryCodes.includes(c)), 'new codes')
  assertProblem(
    await disable(tokens.accessToken, { recoveryCode: recoveryCodes[5] }),
    401,
    'invalid_code',
    'a code of the earlier set',
  )
  const byCode = await disable(tokens.accessToken, { recoveryCode: again.body.recoveryCodes[0] })
  assert.equal(byCode.status, 200, byCode.text)
  assert.equal(byCode.body.mfaEnabled, false)
  await securityMail(tokens.accessToken, /switched off/)
})

test('bad input to enrolment, switching off and recovery sign-in is 422 problem+json at the field', async () => {
  const token = tokens.accessToken
  assertFieldError(await enrol(token, { currentPassword: 12345678 }), '/currentPassword')
  assertFieldError(await enrol(token, { currentPassword: '' }), '/currentPassword')
  assertFieldError(await enrol(token, { currentPassword: PASSWORD, extra: 1 }), '/extra')
  assertFieldError(await enrol(token, { currentPassword: 'a\u0000b' }), '/currentPassword')
  for (const recoveryCode of [
    '',
    'not-a-code',
    '0123abcd-0123abcd-0123abcd',
    '0123abcd-0123abcd-0123abcd-0123abcg',
    1234,
    null,
  ]) {
    assertFieldError(await disable(token, { recoveryCode }), '/recoveryCode')
    assertFieldError(await signInWithRecovery(recoveryCode as string), '/recoveryCode')
  }
  // One proof, not both: the body is refused as a whole.
  assertProblem(
    await disable(token, { currentPassword: PASSWORD, recoveryCode: recoveryCodes[6] }),
    422,
    'validation_failed',
  )
  const notJson = await call(node, 'POST', '/api/users/me/mfa/disable', {
    token,
    body: 'currentPassword=x',
    headers: { 'content-type': 'text/plain' },
  })
  assert.equal(notJson.status, 415, notJson.text)
  assert.match(notJson.headers.get('content-type') ?? '', /application\/problem\+json/)
})
