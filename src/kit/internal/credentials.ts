// Between processes, identity travels as a short-lived credential signed with a secret the
// gateway and the services share (MOSAIC_INTERNAL_SECRET): the gateway signs what it verified
// at the edge, and a service signs its own name when it calls another. A process that receives
// a request reads identity only from a credential that verifies, never from plain headers.
import { createHmac } from 'node:crypto'
import { jwtVerify } from 'jose'
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
  /** Synchronous: the gateway signs one per proxied request, and WebCrypto's async HMAC cost a quarter of its CPU. */
  signEdge(caller: Caller): string
  verifyEdge(token: string): Promise<Caller>
  /** The calling service's credential, re-signed well before it expires. */
  callerToken(service: string): string
  verifyCaller(token: string): Promise<string>
}

export function createCredentials(secret: string): Credentials {
  const key = new TextEncoder().encode(secret)
  // An HS256 JWT signed with node:crypto's synchronous HMAC (jose signs through WebCrypto, a
  // promise and a thread-pool job per token); jose still verifies it.
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'mosaic+jwt' })).toString('base64url')
  const sign = (claims: Record<string, unknown>, subject: string): string => {
    const iat = Math.floor(Date.now() / 1000)
    const body = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: subject, aud: audience, iat, exp: iat + lifetimeSeconds })).toString('base64url')}`
    return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`
  }
  const verify = async (token: string): Promise<Record<string, unknown>> => {
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], audience, typ: 'mosaic+jwt' })
      return payload
    } catch (error) {
      throw new MosaicError('unauthenticated', { detail: 'internal credential rejected', cause: error })
    }
  }
  const cached = new Map<string, { token: string, renewAt: number }>()

  return {
    signEdge: ({ identity, clientIp }) => sign({ ip: clientIp, ...(identity ? { user: identity } : {}) }, identity?.userId ?? 'anonymous'),
    async verifyEdge(token) {
      const claims = await verify(token)
      return { clientIp: String(claims.ip), ...(claims.user ? { identity: claims.user as Caller['identity'] } : {}) }
    },
    callerToken(service) {
      const hit = cached.get(service)
      if (hit && hit.renewAt > Date.now()) return hit.token
      const token = sign({}, `service:${service}`)
      cached.set(service, { token, renewAt: Date.now() + lifetimeSeconds * 500 })
      return token
    },
    async verifyCaller(token) {
      const claims = await verify(token)
      const subject = String(claims.sub)
      if (!subject.startsWith('service:')) throw new MosaicError('unauthenticated', { detail: 'not a service credential' })
      return subject.slice('service:'.length)
    },
  }
}
