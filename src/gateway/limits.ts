// Per-route limits from the route table, enforced at the edge before a request reaches a service
// (in-process or proxied): a request rate per client, and a body size below BODY_LIMIT. Both read
// the entry authentication matched (request.routeMatch), so the table is looked up once.
import { Transform } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import { MosaicError } from '../kit/errors.ts'

/**
 * Rate limits with @fastify/rate-limit: its in-memory store now, its Redis store when the
 * distributed mode brings Redis. It must be registered before the routes (it hooks each route as
 * it is added), and its hook is a route-level onRequest hook, which Fastify runs after the
 * gateway's own onRequest hooks: authentication has run, so a signed-in caller is counted by
 * user id (wherever they connect from), anyone else by address (an IPv6 /64 as one client).
 * Routes the table gives no `rateLimit` are let through untouched.
 */
export async function registerRateLimits(app: FastifyInstance): Promise<void> {
  const limitOf = (request: FastifyRequest) => request.routeMatch?.access.rateLimit
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    allowList: (request) => limitOf(request) === undefined,
    max: (request) => limitOf(request)!.max,
    timeWindow: (request) => limitOf(request)!.windowSeconds * 1000,
    // A bucket per route and client: one busy route does not use up another's allowance. (The
    // plugin asks for the key before allowList, so routes outside the table get one too.)
    keyGenerator: (request) => {
      const { identity } = request.caller
      const client = identity ? `user:${identity.tenantId}/${identity.userId}` : `ip:${normalizeIP(request.ip)}`
      return `${request.routeMatch?.route ?? request.routeOptions.url}|${client}`
    },
    // The plugin has set Retry-After and the X-RateLimit-* headers; the error handler answers with problem+json.
    errorResponseBuilder: (request, context) => new MosaicError('too_many_requests', {
      detail: `at most ${context.max} requests per ${limitOf(request)!.windowSeconds} s for this route; retry in ${context.after}`,
      retryAfter: Math.max(1, Math.ceil(context.ttl / 1000)),
    }),
  })
}

/**
 * A route's own body limit: Fastify takes a body limit per route only where the route is declared
 * (in the service's plugin), so the edge counts the bytes as they stream in instead. A declared
 * Content-Length over the limit is refused before reading; a chunked body when it passes it.
 */
export function registerBodyLimits(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const limit = request.routeMatch?.access.bodyLimit
    if (limit === undefined) return payload
    const tooLarge = () => new MosaicError('payload_too_large', { detail: `the body of this request may be at most ${limit} bytes` })
    if (Number(request.headers['content-length']) > limit) throw tooLarge()
    let seen = 0
    return payload.pipe(new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.length
        if (seen > limit) callback(tooLarge())
        else callback(null, chunk)
      },
    }))
  })
}
