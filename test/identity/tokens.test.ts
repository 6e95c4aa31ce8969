// Attacks on bearer tokens at the gateway: every one is a forged, altered or misused access token,
// and every one must be refused with 401 problem+json `unauthenticated`, while honest tokens
// (including one just past expiry, within the clock skew, and one signed by a key rotated out a
// moment ago) keep working.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { SignJWT, generateKeyPair, exportJWK, decodeProtectedHeader, type JWK } from 'jose'
import {
  startIdentityNode,
  call,
  assertProblem,
  signUp,
  login,
  forgeToken,
  activeKey,
  rotateSigningKey,
  identityDb,
  identityContext,
  b64url,
  decodePart,
  sleep,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  type TestNode,
  type Tokens,
  type User,
} from './helpers.ts'
import { rotateKey } from '../../src/services/identity/keys.ts'

let node: TestNode
let customer: { user: User; tokens: Tokens }
let admin: Tokens

const SKEW = 30
const TTL = 900

before(async () => {
  // The gateway re-reads the published keys every second, so it notices a retired key quickly.
  node = await startIdentityNode({
    AUTH_JWKS_CACHE_SECONDS: '1',
    AUTH_CLOCK_SKEW_SECONDS: String(SKEW),
    AUTH_ACCESS_TOKEN_TTL: String(TTL),
  })
  customer = await signUp(node)
  admin = await login(node, ADMIN_EMAIL, ADMIN_PASSWORD)
})
after(() => node?.stop())

const me = (token: string) => call<User>(node, 'GET', '/api/users/me', { token })
const listUsers = (token: string) => call(node, 'GET', '/api/users', { token })

/** The token is refused as a credential: 401, problem+json, `unauthenticated`, and a Bearer challenge. */
async function assertRejected(token: string, what: string): Promise<void> {
  const reply = await me(token)
  assertProblem(reply, 401, 'unauthenticated', what)
  assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/, what)
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

test('honest tokens work: the issued one, and one forged exactly like it with the active key', async () => {
  const reply = await me(customer.tokens.accessToken)
  assert.equal(reply.status, 200, reply.text)
  assert.equal(reply.body.id, customer.user.id)
  const header = decodeProtectedHeader(customer.tokens.accessToken)
  assert.deepEqual(
    { alg: header.alg, typ: header.typ, kid: header.kid },
    { alg: 'EdDSA', typ: 'at+jwt', kid: (await activeKey(node)).kid },
  )
  const forged = await forgeToken(node, { userId: customer.user.id })
  assert.equal(
    (await me(forged)).status,
    200,
    'the forging helper makes real tokens, so the refusals below are about the one thing changed',
  )
})

test('alg: none is refused', async () => {
  const { kid } = await activeKey(node)
  const payload = {
    iss: 'mosaic',
    aud: 'mosaic-api',
    sub: customer.user.id,
    tenant: 'default',
    roles: ['admin'],
    iat: nowSeconds(),
    exp: nowSeconds() + 300,
  }
  for (const alg of ['none', 'None', 'NONE']) {
    const unsigned = `${b64url({ alg, typ: 'at+jwt', kid })}.${b64url(payload)}.`
    await assertRejected(unsigned, `alg ${alg}`)
    assertProblem(await listUsers(unsigned), 401, 'unauthenticated', `alg ${alg} on an admin route`)
  }
})

test('HS256 keyed with the public key (the raw x bytes, or the public JWK as JSON) is refused', async () => {
  const { kid, public_jwk: publicJwk } = await activeKey(node)
  const claims = { tenant: 'default', roles: ['admin'] }
  const secrets: Record<string, Uint8Array> = {
    'x bytes': Buffer.from(publicJwk.x!, 'base64url'),
    'x as text': new TextEncoder().encode(publicJwk.x!),
    'public JWK JSON': new TextEncoder().encode(JSON.stringify(publicJwk)),
  }
  for (const [what, secret] of Object.entries(secrets)) {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
      .setIssuer('mosaic')
      .setAudience('mosaic-api')
      .setSubject(customer.user.id)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(secret)
    await assertRejected(token, `HS256 with ${what}`)
    assertProblem(await listUsers(token), 401, 'unauthenticated', `HS256 with ${what} on an admin route`)
  }
})

test('a wrong audience, a wrong issuer or a wrong type is refused', async () => {
  const subject = { userId: customer.user.id }
  await assertRejected(await forgeToken(node, subject, { claims: { aud: 'another-api' } }), 'aud another-api')
  await assertRejected(await forgeToken(node, subject, { claims: { aud: undefined } }), 'no aud')
  await assertRejected(await forgeToken(node, subject, { claims: { iss: 'https://evil.example' } }), 'iss evil')
  await assertRejected(await forgeToken(node, subject, { claims: { iss: undefined } }), 'no iss')
  await assertRejected(await forgeToken(node, subject, { header: { typ: 'JWT' } }), 'typ JWT')
  await assertRejected(await forgeToken(node, subject, { header: { typ: undefined } }), 'no typ')
  // An internal credential's type is not an access token either.
  await assertRejected(await forgeToken(node, subject, { header: { typ: 'mosaic+jwt' } }), 'typ mosaic+jwt')
})

test('a token missing a required claim, or with malformed roles or tenant, is refused', async () => {
  const subject = { userId: customer.user.id }
  await assertRejected(await forgeToken(node, subject, { claims: { exp: undefined } }), 'no exp')
  await assertRejected(await forgeToken(node, subject, { claims: { iat: undefined } }), 'no iat')
  await assertRejected(await forgeToken(node, subject, { claims: { sub: undefined } }), 'no sub')
  await assertRejected(await forgeToken(node, subject, { claims: { roles: 'admin' } }), 'roles as a string')
  await assertRejected(await forgeToken(node, subject, { claims: { roles: [{ role: 'admin' }] } }), 'roles of objects')
  await assertRejected(await forgeToken(node, subject, { claims: { tenant: undefined } }), 'no tenant')
})

test('expired beyond the clock skew is refused; expired within it is still accepted', async () => {
  const subject = { userId: customer.user.id }
  const issued = nowSeconds() - TTL
  await assertRejected(
    await forgeToken(node, subject, { claims: { iat: issued, exp: nowSeconds() - SKEW - 15 } }),
    'expired 45 s ago',
  )
  await assertRejected(
    await forgeToken(node, subject, { claims: { iat: issued - 86_400, exp: nowSeconds() - 86_400 } }),
    'expired a day ago',
  )
  const within = await me(await forgeToken(node, subject, { claims: { iat: issued, exp: nowSeconds() - 10 } }))
  assert.equal(within.status, 200, `expired 10 s ago, skew ${SKEW} s: ${within.text}`)
})

test('a token signed by a key the identity service never published is refused, whatever kid it names', async () => {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const attacker: JWK = await exportJWK(privateKey)
  const subject = { userId: customer.user.id, roles: ['admin'] }
  await assertRejected(await forgeToken(node, subject, { key: attacker, kid: randomUUID() }), 'unknown kid')
  await assertRejected(
    await forgeToken(node, subject, { key: attacker, kid: (await activeKey(node)).kid }),
    'the active kid, the wrong key',
  )
  await assertRejected(await forgeToken(node, subject, { key: attacker, header: { kid: undefined } }), 'no kid')
  // An embedded key must not be trusted either.
  await assertRejected(
    await forgeToken(node, subject, { key: attacker, header: { jwk: { ...attacker, d: undefined } } }),
    'embedded jwk',
  )
})

test('a payload changed after signing (roles: admin) is refused, and the original still works', async () => {
  const [header, payload, signature] = customer.tokens.accessToken.split('.') as [string, string, string]
  const claims = decodePart(payload)
  assert.deepEqual(claims.roles, ['customer'])
  const tampered = `${header}.${b64url({ ...claims, roles: ['admin'] })}.${signature}`
  await assertRejected(tampered, 'roles changed to admin')
  assertProblem(await listUsers(tampered), 401, 'unauthenticated', 'tampered token on the admin route')
  const otherUser = `${header}.${b64url({ ...claims, sub: randomUUID() })}.${signature}`
  await assertRejected(otherUser, 'sub changed')
  const longer = `${header}.${b64url({ ...claims, exp: Number(claims.exp) + 86_400 })}.${signature}`
  await assertRejected(longer, 'exp extended')
  // Flipping a bit of the signature is the same as a wrong key.
  const flipped = Buffer.from(signature, 'base64url')
  flipped[0]! ^= 1
  await assertRejected(`${header}.${payload}.${flipped.toString('base64url')}`, 'signature bit flipped')
  assert.equal((await me(customer.tokens.accessToken)).status, 200)
})

test('a malformed Authorization header is 401, never anonymous access and never 500', async () => {
  const headers = [
    'Basic x',
    'Basic ' + Buffer.from(`${ADMIN_EMAIL}:${ADMIN_PASSWORD}`).toString('base64'),
    'Bearer',
    'Bearer ',
    'garbage',
    'Bearer garbage',
    'Bearer a.b.c',
    'Bearer ...',
    `Bearer ${customer.tokens.accessToken}x`,
    'Bearer eyJhbGciOiJFZERTQSJ9',
    'Token ' + customer.tokens.accessToken,
  ]
  for (const authorization of headers) {
    for (const path of ['/api/users/me', '/api/users']) {
      const reply = await call(node, 'GET', path, { headers: { authorization } })
      assertProblem(reply, 401, 'unauthenticated', `Authorization: ${authorization.slice(0, 40)} on ${path}`)
      assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer/, 'a 401 always carries a challenge')
    }
  }
})

test('identity headers sent by a client are ignored: anonymous stays anonymous, a customer stays a customer', async () => {
  const spoofed = {
    'x-user-id': customer.user.id,
    'x-tenant-id': 'default',
    'x-permissions': 'admin',
    'x-mosaic-caller': 'identity',
  }
  assertProblem(
    await call(node, 'GET', '/api/users', { headers: spoofed }),
    401,
    'unauthenticated',
    'anonymous with admin headers',
  )
  assertProblem(
    await call(node, 'GET', '/api/users/me', { headers: spoofed }),
    401,
    'unauthenticated',
    'anonymous with a user id header',
  )
  assertProblem(
    await call(node, 'POST', '/api/products', { headers: spoofed, json: { name: 'Spoofed', price: 1 } }),
    401,
    'unauthenticated',
  )

  const adminUser = (await call<User>(node, 'GET', '/api/users/me', { token: admin.accessToken })).body
  const asAdmin = { ...spoofed, 'x-user-id': adminUser.id }
  assertProblem(
    await call(node, 'GET', '/api/users', { token: customer.tokens.accessToken, headers: asAdmin }),
    403,
    'forbidden',
    'customer claiming admin',
  )
  const self = await call<User>(node, 'GET', '/api/users/me', { token: customer.tokens.accessToken, headers: asAdmin })
  assert.equal(self.status, 200)
  assert.equal(self.body.id, customer.user.id, 'the customer is still themselves')
  assert.deepEqual(self.body.roles, ['customer'])
  assertProblem(
    await call(node, 'GET', `/api/users/${adminUser.id}`, { token: customer.tokens.accessToken, headers: asAdmin }),
    404,
    'not_found',
  )
  // An internal edge credential from a client is dropped too (it would need the internal secret anyway).
  const edge = await call(node, 'GET', '/api/users', {
    token: customer.tokens.accessToken,
    headers: { 'x-mosaic-edge': 'eyJhbGciOiJIUzI1NiJ9.e30.x' },
  })
  assertProblem(edge, 403, 'forbidden')
})

test('rotation: a token from the new key works at once, one from the old key keeps working, the JWKS lists both', async () => {
  const oldKid = (await activeKey(node)).kid
  const oldToken = customer.tokens.accessToken
  const newKid = await rotateSigningKey(node)
  assert.notEqual(newKid, oldKid)

  const fresh = await login(node, customer.user.email)
  assert.equal(decodeProtectedHeader(fresh.accessToken).kid, newKid)
  // No waiting out the gateway's key cache: an unknown kid makes it fetch the keys again.
  const reply = await me(fresh.accessToken)
  assert.equal(reply.status, 200, `new key: ${reply.text}`)
  assert.equal(
    (await me(oldToken)).status,
    200,
    'a token of the retired key verifies while the key is within retention',
  )

  const jwks = await call<{ keys: JWK[] }>(node, 'GET', '/.well-known/jwks.json')
  assert.equal(jwks.status, 200)
  assert.deepEqual(jwks.body.keys.map((k) => k.kid).sort(), [newKid, oldKid].sort())
  for (const key of jwks.body.keys) {
    assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'], 'public members only: no "d"')
    assert.equal(key.alg, 'EdDSA')
  }
  customer.tokens = fresh
})

test('a token signed by a key retired longer ago than the retention is refused, and the key is no longer published', async () => {
  // The newest retired key is the one the previous test rotated out (or, run alone, rotate now).
  let [retired] = await identityDb(node).query<{ kid: string; private_jwk: JWK }>(
    'select kid, private_jwk from signing_keys where retired_at is not null order by retired_at desc limit 1',
  )
  if (!retired) {
    await rotateSigningKey(node)
    ;[retired] = await identityDb(node).query<{ kid: string; private_jwk: JWK }>(
      'select kid, private_jwk from signing_keys where retired_at is not null order by retired_at desc limit 1',
    )
  }
  const token = await forgeToken(node, { userId: customer.user.id }, { key: retired!.private_jwk, kid: retired!.kid })
  assert.equal((await me(token)).status, 200, 'within retention it verifies')

  // Age the retirement past the retention (token lifetime + skew), then let the gateway's key cache (1 s) expire.
  await identityDb(node).query(
    'update signing_keys set retired_at = now() - make_interval(secs => $2) where kid = $1',
    [retired!.kid, TTL + SKEW + 60],
  )
  await sleep(1200)
  const jwks = await call<{ keys: JWK[] }>(node, 'GET', '/.well-known/jwks.json')
  const active = (await activeKey(node)).kid
  assert.deepEqual(
    jwks.body.keys.map((k) => k.kid),
    [active],
    'only the active key is published',
  )
  await assertRejected(token, 'signed by a retired-and-expired key')
  // Even a token that is itself still unexpired by its own claims.
  await assertRejected(
    await forgeToken(
      node,
      { userId: customer.user.id, roles: ['admin'] },
      { key: retired!.private_jwk, kid: retired!.kid, claims: { exp: nowSeconds() + 3600 } },
    ),
    'old key, long exp',
  )
  assert.equal((await me(customer.tokens.accessToken)).status, 200, 'the active key still works')
})

test('the rotation schedule makes a new key only once the active one is AUTH_KEY_ROTATION_DAYS old', async () => {
  const db = identityContext(node).db
  const schedule = { olderThanDays: 30 }
  const active = (await activeKey(node)).kid
  assert.equal(await db.transaction((tx) => rotateKey(tx, schedule)), undefined, 'a fresh key is kept')
  await identityDb(node).query("update signing_keys set created_at = now() - interval '31 days' where kid = $1", [
    active,
  ])
  const next = await db.transaction((tx) => rotateKey(tx, schedule))
  assert.ok(next && next !== active, 'a key past its age is replaced')
  assert.equal((await activeKey(node)).kid, next)
  const [retired] = await identityDb(node).query<{ retired_at: Date | null }>(
    'select retired_at from signing_keys where kid = $1',
    [active],
  )
  assert.ok(retired?.retired_at, 'the old key is retired, not deleted: it stays published for the token lifetime')
  assert.equal(await db.transaction((tx) => rotateKey(tx, schedule)), undefined, 'and the new one is kept')
})
