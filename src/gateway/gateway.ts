// The edge of the system: security headers, CORS, authentication against the route table, the
// public routes of every service (mounted in-process, or proxied to the service's URL with the
// verified caller in a signed credential), the signing keys, the OpenAPI document and the API
// reference; the route table's per-route rate and body limits (limits.ts); balancing and
// resilience for proxied services (proxy.ts, kit/calls).
import { isIP } from 'node:net'
import type { FastifyInstance } from 'fastify'
import cors from '@fastify/cors'
import Type, { type Static } from 'typebox'
import type { Contract } from '../kit/contract.ts'
import { loadConfig, ConfigError, splitList, Env } from '../kit/config.ts'
import type { Client } from '../kit/service.ts'
import type { ServiceInstance } from '../kit/internal/host.ts'
import { serviceRoutes } from '../kit/internal/service-routes.ts'
import type { Credentials } from '../kit/internal/credentials.ts'
import type { Upstream } from '../kit/calls/upstream.ts'
import { proxyRoutes } from './proxy.ts'
import { AuthSettings, sessionCookieName, type identityContract } from '../services/identity/contract.ts'
import { loadRouteTable, defaultRouteTable, type RouteTable, type RouteMatch } from './route-table.ts'
import type { Authorizer } from '../kit/authz.ts'
import { createTokenVerifier } from './tokens.ts'
import { createAuthenticator } from './authenticate.ts'
import { registerRateLimits, registerBodyLimits } from './limits.ts'
import { openApiDocument } from './openapi.ts'
import { registerDocs } from './docs.ts'
import { edgeHeaders } from './edge-headers.ts'
import { landingJson } from './landing.ts'
import { webApp } from '../web/plugin.ts'
import { opsContract } from './ops/contract.ts'
import { opsSystem, type OpsSources } from './ops/system.ts'
import { opsRoutes } from './ops/routes.ts'
import { createRouteStats } from './ops/route-stats.ts'
import { summarizeReadiness, type ReadinessBody } from '../kit/internal/readiness-report.ts'
import { httpServerDuration } from '../kit/telemetry/metrics.ts'
import type { ordersContract } from '../services/orders/contract.ts'

export const GatewayConfig = Type.Object({
  ...AuthSettings.properties,
  AUTH_JWKS_CACHE_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 60,
    description: 'How long the gateway trusts fetched signing keys',
  }),
  GATEWAY_ROUTES: Type.String({
    default: defaultRouteTable,
    description: 'Route table files or folders, comma-separated',
  }),
  REDIS_URL: Type.Optional(
    Type.String({ pattern: '^rediss?://', description: 'Rate limits shared by every gateway process' }),
  ),
  RATE_LIMIT_MAX: Env.positive(
    1000,
    'Requests per window to /api routes by one caller (the user, else the client address) unless the route table sets its own',
  ),
  RATE_LIMIT_WINDOW_SECONDS: Env.positive(60, 'The window of RATE_LIMIT_MAX, seconds'),
})

/** The gateway's configuration and route table, checked before any service starts. */
export interface GatewaySettings {
  readonly config: Static<typeof GatewayConfig>
  readonly table: RouteTable
}

export function gatewaySettings(contracts: readonly Contract[], env: NodeJS.ProcessEnv, host: string): GatewaySettings {
  const config = loadConfig(GatewayConfig, env)
  if (!config.AUTH_COOKIE_SECURE && !isLoopback(host)) {
    throw new ConfigError(
      'AUTH_COOKIE_SECURE',
      'may be false only while HOST is a loopback address (plain http://localhost)',
      'false',
    )
  }
  return { config, table: loadRouteTable([...contracts, opsContract], splitList(config.GATEWAY_ROUTES)) }
}

export interface GatewayOptions {
  readonly settings: GatewaySettings
  readonly local: readonly ServiceInstance[]
  readonly remote: readonly { contract: Contract; upstream: Upstream }[]
  /** How the gateway asks the identity service about keys and sessions (in-process or remote). */
  readonly identity: Client<typeof identityContract>
  /** The policies' role hierarchy, which the route table's roles are checked against. */
  readonly authorizer: Authorizer
  /** Signs the verified caller for proxied services; present whenever some service is remote. */
  readonly credentials?: Credentials
  /** Origins allowed to call the API from a browser (CORS_ORIGINS); empty: none. */
  readonly corsOrigins: readonly string[]
  readonly requestTimeoutMs: number
  readonly version: string
  /** What the operator API (/api/ops) reads: this process and the others (ops/system.ts). */
  readonly ops: {
    readonly sources: Omit<OpsSources, 'self' | 'credentials'>
    readonly orders: Client<typeof ordersContract>
    /** The gateway's own address, known once it listens. */
    readonly url: () => string
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The route-table entry of an /api request, set by authentication (which runs first). */
    routeMatch?: RouteMatch
  }
}

const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']

const isLoopback = (host: string): boolean =>
  host === 'localhost' || (isIP(host) !== 0 && /^(127\.|::1$|::ffff:127\.)/.test(host))

export async function mountGateway(app: FastifyInstance, options: GatewayOptions): Promise<void> {
  const { config, table } = options.settings
  const contracts = [...options.local.map((i) => i.contract), ...options.remote.map((r) => r.contract), opsContract]

  const security = edgeHeaders({
    // An API answers with JSON, never with a page to frame or run scripts in; /docs and / set their
    // own. Without useDefaults: false, helmet adds its defaults (script-src, style-src https: ...).
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    hsts: false, // sent below, only on responses to HTTPS requests: over plain HTTP it means nothing
    frameguard: { action: 'deny' }, // for browsers that predate CSP's frame-ancestors
  })
  const apiHeaders = { ...security, 'cache-control': 'no-store' }
  // First, so that every answer has them, a CORS preflight and an early refusal too.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.url.startsWith('/api/') ? apiHeaders : security)
    if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains')
    done()
  })
  // No allowed origins: no CORS headers at all, so browsers keep the same-origin policy.
  // The methods are named: the plugin's default allows only GET, HEAD and POST in preflights.
  if (options.corsOrigins.length > 0)
    await app.register(cors, {
      origin: [...options.corsOrigins],
      credentials: true,
      maxAge: 600,
      methods: CORS_METHODS,
    })

  const tokens = createTokenVerifier({
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    skewSeconds: config.AUTH_CLOCK_SKEW_SECONDS,
    cacheSeconds: config.AUTH_JWKS_CACHE_SECONDS,
    fetchKeys: () => options.identity.jwks({}),
  })
  app.addHook(
    'onRequest',
    createAuthenticator({
      authorizer: options.authorizer,
      table,
      tokens,
      resolveSession: async (secret) => (await options.identity.resolveSession({ secret })).session,
      cookieName: sessionCookieName(config.AUTH_COOKIE_SECURE),
      trustedOrigins: options.corsOrigins,
    }),
  )
  // Before any route is added: the rate limiter hooks each route as it is registered.
  await registerRateLimits(app, {
    redisUrl: config.REDIS_URL,
    max: config.RATE_LIMIT_MAX,
    windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
    log: app.log as never,
  })
  registerBodyLimits(app)
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${config.AUTH_JWKS_CACHE_SECONDS}`)
    return tokens.keys()
  })

  for (const instance of options.local) {
    await app.register(serviceRoutes(instance, { requestTimeoutMs: options.requestTimeoutMs }))
  }
  for (const { contract, upstream } of options.remote) {
    const credentials = options.credentials
    if (!credentials) throw new Error(`${contract.name} is remote but no credentials were given to sign callers with`)
    await app.register(proxyRoutes({ contract, upstream, credentials, requestTimeoutMs: options.requestTimeoutMs }))
  }

  const stats = createRouteStats(httpServerDuration)
  app.addHook('onClose', async () => stats.close())
  const system = opsSystem({
    ...options.ops.sources,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    self: async () => {
      const ready = await app.inject({ method: 'GET', url: '/health/ready' })
      return { url: options.ops.url(), ready: summarizeReadiness(ready.json<ReadinessBody>()) }
    },
  })
  await app.register(opsRoutes({ system, stats, orders: options.ops.orders }))

  // Built on the first request for it, not at start.
  let document: ReturnType<typeof openApiDocument> | undefined
  app.get(
    '/openapi.json',
    async () => (document ??= openApiDocument(contracts, options.version, (route) => table.entries[route])),
  )
  // The web application takes `/` (a JSON client asking there still gets the gateway's links).
  await app.register(
    webApp({
      cookieSecure: config.AUTH_COOKIE_SECURE,
      sessionCookie: sessionCookieName(config.AUTH_COOKIE_SECURE),
      effectiveRoles: (roles) => options.authorizer.effectiveRoles(roles),
      landingJson: () => landingJson(options.version),
    }),
  )
  await app.register(async (docs) => {
    docs.addHook('onSend', async (_request, reply) => {
      reply.header(
        'content-security-policy',
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
      )
    })
    registerDocs(docs)
  })
}
