// Authentication at the edge, once per request: the identity headers a client sent are dropped,
// the caller is verified (a bearer token, or a session cookie with its CSRF token), the route
// table's demands are checked, and the verified identity is what services receive.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseCookie } from 'cookie'
import { MosaicError, defineErrors } from '../kit/errors.ts'
import type { Identity } from '../kit/identity.ts'
import type { Authorizer } from '../kit/authz.ts'
import type { RouteTable, RouteAccess } from './route-table.ts'
import type { TokenVerifier } from './tokens.ts'
import { runInContext } from '../kit/telemetry/tracing.ts'

defineErrors({
  csrf_failed: { status: 403, title: 'Cross-site request refused', retryable: false },
})

/** Headers that carry identity inward; whatever a client sends in them is discarded. */
export const IDENTITY_HEADERS = [
  'x-user-id',
  'x-tenant-id',
  'x-permissions',
  'x-mosaic-edge',
  'x-mosaic-caller',
] as const

export interface AuthenticateOptions {
  readonly table: RouteTable
  readonly tokens: TokenVerifier
  readonly authorizer: Authorizer
  readonly resolveSession: (secret: string) => Promise<{ identity: Identity; csrfHash: string } | null>
  readonly cookieName: string
  /** Origins besides the gateway's own that may send cookie-authenticated unsafe requests (CORS_ORIGINS). */
  readonly trustedOrigins: readonly string[]
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The onRequest hook. Callback-style rather than async: a public route (most reads) is decided
 * synchronously and goes on at once, without a promise and a turn of the microtask queue; only a
 * caller to verify takes the asynchronous path.
 */
export function createAuthenticator(options: AuthenticateOptions) {
  return function authenticate(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
    const access = routeAccess(request, reply, options)
    if (access === undefined || access.auth === 'public') return done()
    authenticateCaller(request, reply, access, options).then(() => done(), done)
  }
}

/** The request's path, without the query. */
function pathOf(request: FastifyRequest): string {
  const query = request.url.indexOf('?')
  return query === -1 ? request.url : request.url.slice(0, query)
}

/** The route table's entry for the request (kept as request.routeMatch); undefined outside /api. Throws for a path it does not list. */
function routeAccess(
  request: FastifyRequest,
  reply: FastifyReply,
  options: AuthenticateOptions,
): RouteAccess | undefined {
  for (const header of IDENTITY_HEADERS) if (header in request.headers) delete request.headers[header]
  // By the route matched, not the raw URL, which may spell the same path differently (/%61pi/...).
  if (!request.routeOptions.url?.startsWith('/api/')) return undefined
  const path = pathOf(request)
  // HEAD is GET without the body, and Fastify serves it wherever GET is served.
  const matched = options.table.match(request.method === 'HEAD' ? 'GET' : request.method, path)
  // Default deny: a path the table does not know is no route, whatever a router downstream
  // (or a proxied service) might make of it.
  if (!matched) {
    // A path the table knows, asked with another method: 405 with Allow (RFC 9110 §15.5.6), as
    // http-app.ts answers for routes mounted here; a proxied prefix gets here for any method.
    const allowed = options.table.allowed(path)
    if (allowed.length === 0)
      throw new MosaicError('route_not_found', { detail: `no route for ${request.method} ${path}` })
    reply.header('allow', allowed.join(', '))
    throw new MosaicError('method_not_allowed', {
      detail: `${path} answers to ${allowed.join(', ')}, not ${request.method}`,
    })
  }
  // Kept for the hooks that run later (limits.ts): the table is looked up once per request.
  request.routeMatch = matched
  return matched.access
}

async function authenticateCaller(
  request: FastifyRequest,
  reply: FastifyReply,
  access: RouteAccess,
  options: AuthenticateOptions,
): Promise<void> {
  const identity = await verifyCaller(request, options).catch((error: unknown) => {
    // Every 401 carries a challenge (RFC 9110 §15.5.2); a refused token says so (RFC 6750 §3.1).
    if (error instanceof MosaicError && error.status === 401)
      reply.header('www-authenticate', 'Bearer error="invalid_token"')
    throw error
  })
  if (!identity) {
    // `optional`: credentials that were sent are checked above; sending none is anonymous.
    if (access.auth === 'optional') return
    reply.header('www-authenticate', 'Bearer')
    throw new MosaicError('unauthenticated', {
      detail: 'sign in: send Authorization: Bearer <access token>, or the session cookie',
    })
  }
  if (access.roles && !options.authorizer.effectiveRoles(identity.roles).some((role) => access.roles!.includes(role))) {
    throw new MosaicError('forbidden', {
      detail: `${request.method} ${pathOf(request)} needs the role ${access.roles.join(' or ')}`,
    })
  }
  request.caller = { identity, clientIp: request.ip }
  request.headers['x-user-id'] = identity.userId
  request.headers['x-tenant-id'] = identity.tenantId
  request.headers['x-permissions'] = identity.roles.join(',')
}

async function verifyCaller(request: FastifyRequest, options: AuthenticateOptions): Promise<Identity | undefined> {
  const authorization = request.headers.authorization
  if (authorization !== undefined) {
    const [scheme, token] = authorization.split(' ')
    if (scheme?.toLowerCase() !== 'bearer' || !token)
      throw new MosaicError('unauthenticated', { detail: 'Authorization must be "Bearer <access token>"' })
    return options.tokens.verify(token)
  }
  const secret = request.headers.cookie ? parseCookie(request.headers.cookie)[options.cookieName] : undefined
  if (!secret) return undefined
  // In the request's trace (by default it would be a trace of its own), or untraced with it.
  const session = await runInContext(request.trace.context, () => options.resolveSession(secret))
  if (!session) return undefined
  if (!SAFE_METHODS.has(request.method)) checkCrossSite(request, session.csrfHash, options.trustedOrigins)
  return session.identity
}

/**
 * A cookie is sent by the browser whoever made the page, so an unsafe request authenticated by
 * one must prove it comes from our own pages: the CSRF token only they can read, and, where the
 * browser says, a same-origin Sec-Fetch-Site and Origin.
 */
function checkCrossSite(request: FastifyRequest, csrfHash: string, trustedOrigins: readonly string[]): void {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new MosaicError('csrf_failed', { detail: `Sec-Fetch-Site: ${site} is not allowed` })
  const origin = request.headers.origin
  if (origin !== undefined && origin !== `${request.protocol}://${request.host}` && !trustedOrigins.includes(origin)) {
    throw new MosaicError('csrf_failed', { detail: `Origin ${origin} is not allowed` })
  }
  const token = request.headers['x-csrf-token']
  const given = createHash('sha256')
    .update(typeof token === 'string' ? token : '')
    .digest()
  const expected = Buffer.from(csrfHash, 'base64url')
  if (typeof token !== 'string' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new MosaicError('csrf_failed', { detail: 'X-CSRF-Token is missing or wrong' })
  }
}
