// Per-route limits from the route table, enforced at the edge before a request reaches a service
// (in-process or proxied): a request rate per client, and a body size below BODY_LIMIT. Both read
// the entry authentication matched (request.routeMatch), so the table is looked up once.
import { Transform } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { clientKey } from '../kit/client-key.ts'
import type { Logger } from 'pino'
import { MosaicError } from '../kit/errors.ts'
import { sharedStore } from './rate-store.ts'

export interface RateLimitOptions {
  /** Shared counts for every gateway process (rate-store.ts); without it, counts in memory. */
  readonly redisUrl?: string
  /** The allowance of an /api route the table gives no `rateLimit`: per client, all such routes together. */
  readonly max: number
  readonly windowSeconds: number
  readonly log: Logger
}

/**
 * Rate limits with @fastify/rate-limit, counted in Redis or memory (rate-store.ts). It must be
 * registered before the routes (it hooks each route as it is added), and its hook is a
 * route-level onRequest hook, which Fastify runs after the gateway's own onRequest hooks:
 * authentication has run, so a signed-in caller is counted by user id (wherever they connect
 * from), anyone else by address (an IPv6 /64 as one client). Answers carry the RateLimit-*
 * headers (IETF draft); health, metrics and documents outside /api are not counted.
 */
export async function registerRateLimits(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const defaults = { max: options.max, windowSeconds: options.windowSeconds }
  const limitOf = (request: FastifyRequest) => request.routeMatch?.access.rateLimit ?? defaults
  const store = sharedStore(options.redisUrl, options.log)
  app.addHook('onClose', () => store.close())
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    store: store.Store,
    enableDraftSpec: true,
    allowList: (request) => !request.url.startsWith('/api/'),
    max: (request) => limitOf(request).max,
    timeWindow: (request) => limitOf(request).windowSeconds * 1000,
    // A route with a limit of its own has a bucket per client: one busy route does not use up
    // another's allowance. The other routes share the client's default allowance.
    keyGenerator: (request) => {
      const { identity } = request.caller
      const client = identity ? `user:${identity.tenantId}/${identity.userId}` : `ip:${clientKey(request.ip)}`
      return request.routeMatch?.access.rateLimit ? `${request.routeMatch.route}|${client}` : client
    },
    // The plugin has set Retry-After and the RateLimit-* headers; the error handler answers with problem+json.
    errorResponseBuilder: (request, context) =>
      new MosaicError('too_many_requests', {
        detail: `at most ${context.max} requests per ${limitOf(request).windowSeconds} s; retry in ${context.after}`,
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
  // Callback-style: it runs for every request, most with no limit of their own, and an async hook
  // would cost each a promise and a turn of the microtask queue.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const limit = request.routeMatch?.access.bodyLimit
    if (limit === undefined) return done(null, payload)
    const tooLarge = () =>
      new MosaicError('payload_too_large', { detail: `the body of this request may be at most ${limit} bytes` })
    if (Number(request.headers['content-length']) > limit) return done(tooLarge())
    let seen = 0
    done(
      null,
      payload.pipe(
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            seen += chunk.length
            if (seen > limit) callback(tooLarge())
            else callback(null, chunk)
          },
        }),
      ),
    )
  })
}
