// Between processes, identity travels as a short-lived credential signed with a secret the
// gateway and the services share (MOSAIC_INTERNAL_SECRET): the gateway signs what it verified
// at the edge, and a service signs its own name when it calls another. A process that receives
// a request reads identity only from a credential that verifies, never from plain headers.
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { MosaicError } from '../errors.ts'
import type { Caller } from '../identity.ts'

/** Header carrying the edge's view of the caller to a service process. */
export const EDGE_HEADER = 'x-mosaic-edge'
/** Header carrying the calling service's name to another service's actions endpoint. */
export const CALLER_HEADER = 'x-mosaic-caller'

const audience = 'mosaic-internal'
// Long enough for a request to cross a proxy, short enough that a captured one is soon useless.
const lifetimeSeconds = 60

export interface Credentials {
  signEdge(caller: Caller): string
  verifyEdge(token: string): Promise<Caller>
  /** The calling service's credential, re-signed well before it expires. */
  callerToken(service: string): string
  verifyCaller(token: string): Promise<string>
}

export function createCredentials(secret: string): Credentials {
  // HS256 JWTs signed and verified with node:crypto's synchronous HMAC, written here rather than
  // with jose: jose goes through WebCrypto, a promise and a thread-pool job per token, and with
  // a credential signed and verified for every proxied request that was a quarter of the
  // gateway's CPU and a fifth of a service's. The format is jose's; only the header below is accepted.
  const key = createSecretKey(Buffer.from(secret))
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'mosaic+jwt' })).toString('base64url')
  const mac = (body: string): Buffer => createHmac('sha256', key).update(body).digest()
  const sign = (claims: Record<string, unknown>, subject: string): string => {
    const iat = Math.floor(Date.now() / 1000)
    const body = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: subject, aud: audience, iat, exp: iat + lifetimeSeconds })).toString('base64url')}`
    return `${body}.${mac(body).toString('base64url')}`
  }
  // A caller's credential is reused for half its lifetime, and one that verified is remembered
  // until it expires: the same caller through the same gateway costs one signature a while.
  const signed = new LRUCache<string, string>({ max: 10_000, ttl: lifetimeSeconds * 500 })
  const verified = new LRUCache<string, Record<string, unknown>>({ max: 10_000, ttl: lifetimeSeconds * 1000 })
  const verify = async (token: string): Promise<Record<string, unknown>> => {
    const known = verified.get(token)
    if (known && (known.exp as number) > Date.now() / 1000) return known
    const rejected = (why: string) =>
      new MosaicError('unauthenticated', { detail: `internal credential rejected: ${why}` })
    const [head, payload, signature, extra] = token.split('.')
    if (head !== header || !payload || !signature || extra !== undefined) throw rejected('not a Mosaic credential')
    const given = Buffer.from(signature, 'base64url')
    const expected = mac(`${head}.${payload}`)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw rejected('bad signature')
    let claims: Record<string, unknown>
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
    } catch {
      throw rejected('malformed claims')
    }
    if (claims.aud !== audience) throw rejected('wrong audience')
    if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) throw rejected('expired')
    verified.set(token, claims)
    return claims
  }

  return {
    signEdge({ identity, clientIp }) {
      const key = identity ? `${clientIp} ${JSON.stringify(identity)}` : clientIp
      let token = signed.get(key)
      if (!token)
        signed.set(
          key,
          (token = sign({ ip: clientIp, ...(identity ? { user: identity } : {}) }, identity?.userId ?? 'anonymous')),
        )
      return token
    },
    async verifyEdge(token) {
      const claims = await verify(token)
      return { clientIp: String(claims.ip), ...(claims.user ? { identity: claims.user as Caller['identity'] } : {}) }
    },
    callerToken(service) {
      let token = signed.get(`service:${service}`)
      if (!token) signed.set(`service:${service}`, (token = sign({}, `service:${service}`)))
      return token
    },
    async verifyCaller(token) {
      const claims = await verify(token)
      const subject = String(claims.sub)
      if (!subject.startsWith('service:'))
        throw new MosaicError('unauthenticated', { detail: 'not a service credential' })
      return subject.slice('service:'.length)
    },
  }
}
