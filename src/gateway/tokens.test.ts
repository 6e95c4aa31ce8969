// The edge's memory of verified tokens: a token is verified once, but never trusted past its own
// expiry, nor once the keys that verified it are gone (unit tests; the whole path through a running
// gateway is in test/identity/tokens.test.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { SignJWT, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose'
import { createTokenVerifier } from './tokens.ts'

const issuer = 'https://mosaic.test'
const audience = 'mosaic'

async function signingKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true })
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }
  const sign = (claims: { exp?: number } = {}) =>
    new SignJWT({ tenant: 'tenant-1', roles: ['customer'], sid: 'ses_1' })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('usr_1')
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? '15m')
      .sign(privateKey)
  return { jwk, sign }
}

function verifierOver(keys: () => JSONWebKeySet, cacheSeconds = 60) {
  let fetches = 0
  const verifier = createTokenVerifier({
    issuer,
    audience,
    skewSeconds: 0,
    cacheSeconds,
    fetchKeys: async () => {
      fetches++
      return keys()
    },
  })
  return { verifier, fetches: () => fetches }
}

test('a token verified once answers again with the same identity, frozen', async () => {
  const a = await signingKey('a')
  const { verifier } = verifierOver(() => ({ keys: [a.jwk] }))
  const token = await a.sign()
  const first = await verifier.verify(token)
  assert.deepEqual(first, { userId: 'usr_1', tenantId: 'tenant-1', roles: ['customer'], sessionId: 'ses_1' })
  assert.equal(await verifier.verify(token), first)
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.roles))
  await assert.rejects(verifier.verify(`${token}x`), { code: 'unauthenticated' }, 'another text is verified afresh')
})

test('a remembered token is refused once it expires', async () => {
  const a = await signingKey('a')
  const { verifier } = verifierOver(() => ({ keys: [a.jwk] }))
  const token = await a.sign({ exp: Math.floor(Date.now() / 1000) + 1 })
  await verifier.verify(token)
  await sleep(2100)
  await assert.rejects(verifier.verify(token), { code: 'unauthenticated' })
})

test('a fetch of the keys forgets what the old ones verified: a removed key stops working at once', async () => {
  const [a, b] = await Promise.all([signingKey('a'), signingKey('b')])
  let published = [a.jwk]
  const { verifier, fetches } = verifierOver(() => ({ keys: published }))
  const old = await a.sign()
  await verifier.verify(old)
  // Key a withdrawn; a token of key b makes the verifier fetch the keys again (an unknown kid).
  published = [b.jwk]
  await verifier.verify(await b.sign())
  assert.equal(fetches(), 2)
  await assert.rejects(verifier.verify(old), { code: 'unauthenticated' })
})

test('a token is not remembered longer than the keys are trusted (AUTH_JWKS_CACHE_SECONDS)', async () => {
  const a = await signingKey('a')
  let published = [a.jwk]
  const { verifier } = verifierOver(() => ({ keys: published }), 1)
  const token = await a.sign()
  await verifier.verify(token)
  published = []
  await sleep(1100)
  await assert.rejects(verifier.verify(token), { code: 'unauthenticated' })
})
