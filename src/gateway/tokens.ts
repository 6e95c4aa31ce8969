// Verifying access tokens at the edge: signature by a key the identity service publishes, the
// algorithm pinned (so `alg: none` and HS256-keyed-with-the-public-key fail), and iss, aud, typ
// and exp (with a small skew) checked. Keys are cached; a token with an unknown kid refreshes the
// cache once (a rotation happened), at most once a second whatever callers send.
//
// A token already verified is remembered until it expires (with the skew), and never longer than
// the keys that verified it are trusted (AUTH_JWKS_CACHE_SECONDS; every fetch of the keys forgets
// them all): a client sends the same access token with every request for its lifetime, and
// verifying its signature again (WebCrypto's Ed25519, a trip through the thread pool) was a third
// of an authenticated read's CPU (docs/benchmarks.md, 2026-11-29 night). A token is immutable, so
// what its signature and claims said cannot change; only time (exp) and the keys can.
import { createLocalJWKSet, jwtVerify, errors, type JSONWebKeySet } from 'jose'
import { LRUCache } from 'lru-cache'
import { MosaicError } from '../kit/errors.ts'
import type { Identity } from '../kit/identity.ts'

export interface TokenVerifierOptions {
  readonly issuer: string
  readonly audience: string
  readonly skewSeconds: number
  /** How long fetched keys are trusted before they are fetched again (AUTH_JWKS_CACHE_SECONDS). */
  readonly cacheSeconds: number
  readonly fetchKeys: () => Promise<JSONWebKeySet>
}

export interface TokenVerifier {
  verify(token: string): Promise<Identity>
  /** The published keys, as cached. */
  keys(): Promise<JSONWebKeySet>
}

const ALGORITHMS = ['EdDSA']
const TYPE = 'at+jwt'
const MIN_REFRESH_MS = 1000
/** Verified tokens remembered at most (one a signed-in client, at some 1 KB each). */
const MAX_VERIFIED = 10_000

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  let cached: { set: JSONWebKeySet; local: ReturnType<typeof createLocalJWKSet>; at: number } | undefined
  let inflight: Promise<NonNullable<typeof cached>> | undefined
  // By the token's text: its identity, and until when (ms) the token is valid, skew included.
  const verified = new LRUCache<string, { identity: Identity; validUntil: number }>({
    max: MAX_VERIFIED,
    ttl: options.cacheSeconds * 1000,
  })

  const refresh = (): Promise<NonNullable<typeof cached>> =>
    (inflight ??= (async () => {
      const wait = cached ? cached.at + MIN_REFRESH_MS - Date.now() : 0
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const set = await options.fetchKeys()
      verified.clear() // verified by keys that may be gone now
      return (cached = { set, local: createLocalJWKSet(set), at: Date.now() })
    })().finally(() => {
      inflight = undefined
    }))

  const current = async (): Promise<NonNullable<typeof cached>> =>
    cached && Date.now() - cached.at < options.cacheSeconds * 1000 ? cached : refresh()

  const check = async (token: string, keys: NonNullable<typeof cached>): Promise<Identity> => {
    const { payload } = await jwtVerify(token, keys.local, {
      algorithms: ALGORITHMS,
      issuer: options.issuer,
      audience: options.audience,
      typ: TYPE,
      clockTolerance: options.skewSeconds,
      requiredClaims: ['exp', 'iat', 'sub'],
    })
    const { sub, tenant, roles, sid, exp } = payload
    if (
      typeof tenant !== 'string' ||
      !Array.isArray(roles) ||
      !roles.every((r) => typeof r === 'string') ||
      (sid !== undefined && typeof sid !== 'string')
    ) {
      throw new errors.JWTClaimValidationFailed('claims tenant, roles or sid are malformed', payload)
    }
    // Frozen: one object now answers every request that sends this token.
    const identity: Identity = Object.freeze({
      userId: sub!,
      tenantId: tenant,
      roles: Object.freeze([...roles]),
      ...(sid ? { sessionId: sid } : {}),
    })
    // Only while the keys that verified it are still the current ones: a fetch that finished during
    // the check has forgotten every token, and this one must not slip in after it.
    if (keys === cached) verified.set(token, { identity, validUntil: (exp! + options.skewSeconds) * 1000 })
    return identity
  }

  return {
    async verify(token) {
      const known = verified.get(token)
      // jose refuses a token once exp is at or before now minus the skew: the same line here.
      if (known && Date.now() < known.validUntil) return known.identity
      try {
        try {
          return await check(token, await current())
        } catch (error) {
          if (!(error instanceof errors.JWKSNoMatchingKey)) throw error
          return await check(token, await refresh())
        }
      } catch (error) {
        if (error instanceof errors.JOSEError)
          throw new MosaicError('unauthenticated', { detail: `access token rejected: ${error.message}` })
        throw error // the keys could not be fetched: not the caller's fault
      }
    },
    keys: async () => (await current()).set,
  }
}
