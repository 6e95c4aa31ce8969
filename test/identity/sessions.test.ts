// Sign-ins: refresh-token rotation and reuse detection, logout, and browser sessions (the cookie's
// attributes, its entropy, CSRF defences, idle and absolute timeouts).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  startIdentityNode,
  call,
  assertProblem,
  register,
  login,
  cookieLogin,
  identityDb,
  COOKIE_NAME,
  type TestNode,
  type Tokens,
  type User,
  type CookieSession,
} from './helpers.ts'
import { hashSecret } from '../../src/services/identity/sessions.ts'
import { ConfigError } from '../../src/kit/config.ts'

const IDLE_SECONDS = 600
let node: TestNode
let user: User & { password: string }

before(async () => {
  node = await startIdentityNode({ AUTH_SESSION_TTL: String(IDLE_SECONDS) })
  user = await register(node)
})
after(() => node?.stop())

const refresh = (refreshToken: string) => call<Tokens>(node, 'POST', '/api/users/refresh', { json: { refreshToken } })
const meWithCookie = (secret: string) => call<User>(node, 'GET', '/api/users/me', { cookie: secret })
const rename = (session: CookieSession, extra: { csrf?: string; headers?: Record<string, string> } = {}) =>
  call<User>(node, 'PATCH', '/api/users/me', { cookie: session.secret, json: { name: 'Renamed' }, ...extra })

test('refresh rotates: the new token works, the used one is 401', async () => {
  const first = await login(node, user.email)
  const second = await refresh(first.refreshToken)
  assert.equal(second.status, 200, second.text)
  assert.notEqual(second.body.refreshToken, first.refreshToken)
  assert.equal((await call(node, 'GET', '/api/users/me', { token: second.body.accessToken })).status, 200)
  const third = await refresh(second.body.refreshToken)
  assert.equal(third.status, 200, third.text)
  assertProblem(await refresh(second.body.refreshToken), 401, 'invalid_token', 'an already used token')
})

test('reusing a rotated refresh token ends the whole sign-in: the newest token stops working too', async () => {
  const first = await login(node, user.email)
  const second = (await refresh(first.refreshToken)).body
  const third = (await refresh(second.refreshToken)).body
  // An attacker (or the victim) presents an old one: both parties are now out.
  assertProblem(await refresh(first.refreshToken), 401, 'invalid_token', 'reuse of a rotated token')
  assertProblem(await refresh(third.refreshToken), 401, 'invalid_token', 'the newest token of the family')
  assertProblem(await refresh(second.refreshToken), 401, 'invalid_token')
  // Other sign-ins of the same user are not touched.
  const elsewhere = await login(node, user.email)
  assert.equal((await refresh(elsewhere.refreshToken)).status, 200)
})

test('unknown, empty and oversized refresh tokens are refused without a 500', async () => {
  assertProblem(await refresh('not-a-token'), 401, 'invalid_token')
  assertProblem(await refresh('A'.repeat(43)), 401, 'invalid_token')
  assert.equal((await refresh('')).status, 422)
  assert.equal((await refresh('x'.repeat(201))).status, 422)
  assert.equal((await call(node, 'POST', '/api/users/refresh', { json: { refreshToken: 1 } })).status, 422)
})

test('logout revokes the sign-in: its refresh token is 401 afterwards', async () => {
  const tokens = await login(node, user.email)
  const reply = await call(node, 'POST', '/api/users/logout', { token: tokens.accessToken })
  assert.equal(reply.status, 204, reply.text)
  assertProblem(await refresh(tokens.refreshToken), 401, 'invalid_token')
  const [row] = await identityDb(node).query<{ revoked: boolean }>(
    'select s.revoked_at is not null as revoked from refresh_tokens t join sessions s on s.id = t.session_id where t.token_hash = $1',
    [hashSecret(tokens.refreshToken)],
  )
  assert.equal(row?.revoked, true)
})

test('a cookie sign-in sets __Host-mosaic-session: HttpOnly, Secure, SameSite=Lax, Path=/, no Domain; a new id each time', async () => {
  const a = await cookieLogin(node, user.email)
  const b = await cookieLogin(node, user.email)
  const attributes = a.setCookie.split(';').map((p) => p.trim())
  assert.equal(attributes[0]!.split('=')[0], COOKIE_NAME)
  const names = attributes.slice(1).map((p) => p.split('=')[0]!.toLowerCase())
  assert.ok(names.includes('httponly'), a.setCookie)
  assert.ok(names.includes('secure'), a.setCookie)
  assert.ok(
    attributes.some((p) => /^samesite=lax$/i.test(p)),
    a.setCookie,
  )
  assert.ok(
    attributes.some((p) => p === 'Path=/'),
    a.setCookie,
  )
  assert.ok(!names.includes('domain'), `no Domain: ${a.setCookie}`)
  // The id is the session's only secret: at least 128 bits of it.
  assert.match(a.secret, /^[A-Za-z0-9_-]+$/, 'base64url')
  assert.ok(
    Buffer.from(a.secret, 'base64url').length * 8 >= 128,
    `${a.secret} is ${Buffer.from(a.secret, 'base64url').length * 8} bits`,
  )
  assert.ok(Buffer.from(a.csrfToken, 'base64url').length * 8 >= 128, 'the CSRF token too')
  assert.notEqual(a.secret, b.secret, 'a new session id at each sign-in (no fixation)')
  assert.notEqual(a.csrfToken, b.csrfToken)
  // The cookie is stored only as a hash.
  const rows = await identityDb(node).query('select 1 from sessions where secret_hash = $1 or csrf_hash = $2', [
    a.secret,
    a.csrfToken,
  ])
  assert.equal(rows.length, 0)
})

test('a forced (attacker-chosen) session id does not sign anyone in, and signing in with one set gives a new id', async () => {
  const planted = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  assertProblem(await meWithCookie(planted), 401, 'unauthenticated')
  const reply = await call(node, 'POST', '/api/users/login?session=cookie', {
    json: { email: user.email, password: user.password },
    cookie: planted,
  })
  assert.equal(reply.status, 200)
  assert.ok(!(reply.headers.get('set-cookie') ?? '').includes(planted))
  assertProblem(await meWithCookie(planted), 401, 'unauthenticated')
})

test('cookie-authenticated unsafe requests need the CSRF token, a same-origin Sec-Fetch-Site and Origin', async () => {
  const session = await cookieLogin(node, user.email)
  assertProblem(await rename(session), 403, 'csrf_failed', 'no X-CSRF-Token')
  assertProblem(await rename(session, { csrf: 'wrong-token' }), 403, 'csrf_failed', 'a wrong token')
  assertProblem(await rename(session, { csrf: '' }), 403, 'csrf_failed', 'an empty token')
  const other = await cookieLogin(node, user.email)
  assertProblem(await rename(session, { csrf: other.csrfToken }), 403, 'csrf_failed', "another session's token")
  assertProblem(
    await rename(session, { csrf: session.csrfToken, headers: { 'sec-fetch-site': 'cross-site' } }),
    403,
    'csrf_failed',
    'Sec-Fetch-Site: cross-site',
  )
  assertProblem(
    await rename(session, { csrf: session.csrfToken, headers: { 'sec-fetch-site': 'same-site' } }),
    403,
    'csrf_failed',
    'Sec-Fetch-Site: same-site',
  )
  assertProblem(
    await rename(session, { csrf: session.csrfToken, headers: { origin: 'https://evil.example' } }),
    403,
    'csrf_failed',
    'Origin evil',
  )
  assertProblem(
    await rename(session, { csrf: session.csrfToken, headers: { origin: 'null' } }),
    403,
    'csrf_failed',
    'Origin null',
  )
  assert.notEqual(
    (await meWithCookie(session.secret)).body.name,
    'Renamed',
    'nothing was changed by the refused requests',
  )

  const ok = await rename(session, { csrf: session.csrfToken })
  assert.equal(ok.status, 200, ok.text)
  assert.equal(ok.body.name, 'Renamed')
  const sameOrigin = await rename(session, {
    csrf: session.csrfToken,
    headers: { origin: node.url, 'sec-fetch-site': 'same-origin' },
  })
  assert.equal(sameOrigin.status, 200, `the gateway's own origin: ${sameOrigin.text}`)
})

test('a safe GET with the cookie alone is 200', async () => {
  const session = await cookieLogin(node, user.email)
  const reply = await meWithCookie(session.secret)
  assert.equal(reply.status, 200, reply.text)
  assert.equal(reply.body.id, user.id)
  // Even with a cross-site marker: reading is what SameSite and CORS guard, not CSRF tokens.
  assert.equal(
    (await call(node, 'GET', '/api/users/me', { cookie: session.secret, headers: { 'sec-fetch-site': 'cross-site' } }))
      .status,
    200,
  )
})

test('a session idle for longer than AUTH_SESSION_TTL is over', async () => {
  const session = await cookieLogin(node, user.email)
  assert.equal((await meWithCookie(session.secret)).status, 200)
  await identityDb(node).query(
    'update sessions set last_seen_at = now() - make_interval(secs => $2) where secret_hash = $1',
    [hashSecret(session.secret), IDLE_SECONDS - 30],
  )
  assert.equal((await meWithCookie(session.secret)).status, 200, 'still within the idle timeout')
  await identityDb(node).query(
    'update sessions set last_seen_at = now() - make_interval(secs => $2) where secret_hash = $1',
    [hashSecret(session.secret), IDLE_SECONDS + 5],
  )
  assertProblem(await meWithCookie(session.secret), 401, 'unauthenticated', 'idle')
  assertProblem(await rename(session, { csrf: session.csrfToken }), 401, 'unauthenticated', 'idle, unsafe')
})

test('use keeps a session alive: last_seen_at moves forward (at most once a minute)', async () => {
  const session = await cookieLogin(node, user.email)
  await identityDb(node).query(
    "update sessions set last_seen_at = now() - interval '120 seconds' where secret_hash = $1",
    [hashSecret(session.secret)],
  )
  assert.equal((await meWithCookie(session.secret)).status, 200)
  const [row] = await identityDb(node).query<{ age: number }>(
    'select extract(epoch from now() - last_seen_at) as age from sessions where secret_hash = $1',
    [hashSecret(session.secret)],
  )
  assert.ok(Number(row!.age) < 10, `touched: ${row!.age} s old`)
})

test('a session past its absolute lifetime is over, however active', async () => {
  const session = await cookieLogin(node, user.email)
  await identityDb(node).query("update sessions set expires_at = now() - interval '1 second' where secret_hash = $1", [
    hashSecret(session.secret),
  ])
  assertProblem(await meWithCookie(session.secret), 401, 'unauthenticated', 'expired')
})

test('logout with the cookie clears it and ends the session; it needs the CSRF token like any unsafe request', async () => {
  const session = await cookieLogin(node, user.email)
  assertProblem(
    await call(node, 'POST', '/api/users/logout', { cookie: session.secret }),
    403,
    'csrf_failed',
    'a cross-site logout',
  )
  assert.equal((await meWithCookie(session.secret)).status, 200)

  const reply = await call(node, 'POST', '/api/users/logout', { cookie: session.secret, csrf: session.csrfToken })
  assert.equal(reply.status, 204, reply.text)
  const cleared = reply.headers.get('set-cookie') ?? ''
  assert.match(cleared, new RegExp(`^${COOKIE_NAME}=;`), cleared)
  assert.match(cleared, /Max-Age=0/i)
  assert.match(cleared, /Path=\//)
  assert.match(cleared, /Secure/)
  assertProblem(await meWithCookie(session.secret), 401, 'unauthenticated', 'after logout')
  const [row] = await identityDb(node).query<{ revoked: boolean }>(
    'select revoked_at is not null as revoked from sessions where secret_hash = $1',
    [hashSecret(session.secret)],
  )
  assert.equal(row?.revoked, true)
})

test('AUTH_COOKIE_SECURE=false is refused unless HOST is a loopback address', async () => {
  await assert.rejects(
    startIdentityNode({ AUTH_COOKIE_SECURE: 'false', HOST: '0.0.0.0' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'AUTH_COOKIE_SECURE',
  )
})

test('with AUTH_COOKIE_SECURE=false on loopback the cookie is mosaic-session, without Secure (and without __Host-, which needs it)', async (t) => {
  const insecure = await startIdentityNode({ AUTH_COOKIE_SECURE: 'false' })
  t.after(() => insecure.stop())
  const account = await register(insecure)
  const reply = await call(insecure, 'POST', '/api/users/login?session=cookie', {
    json: { email: account.email, password: account.password },
  })
  assert.equal(reply.status, 200, reply.text)
  const setCookie = reply.headers.get('set-cookie') ?? ''
  const match = /^mosaic-session=([^;]+)/.exec(setCookie)
  assert.ok(match, setCookie)
  assert.doesNotMatch(setCookie, /;\s*Secure/i)
  assert.match(setCookie, /;\s*HttpOnly/i)
  const me = await call<User>(insecure, 'GET', '/api/users/me', { headers: { cookie: `mosaic-session=${match[1]}` } })
  assert.equal(me.status, 200, me.text)
  assert.equal(me.body.id, account.id)
  const hostPrefixed = await call(insecure, 'GET', '/api/users/me', {
    headers: { cookie: `${COOKIE_NAME}=${match[1]}` },
  })
  assertProblem(hostPrefixed, 401, 'unauthenticated')
})
