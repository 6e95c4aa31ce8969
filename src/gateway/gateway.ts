// The edge of the system: security headers, CORS, the public routes of every service (mounted
// in-process, or proxied to the service's URL), the OpenAPI document and the API reference.
// Authentication, rate limits and resilience policies come later (see the README's roadmap).
import type { FastifyInstance } from 'fastify'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import httpProxy from '@fastify/http-proxy'
import type { Contract } from '../kit/contract.ts'
import { routePrefixes } from '../kit/contract.ts'
import type { ServiceInstance } from '../kit/internal/host.ts'
import { serviceRoutes } from '../kit/internal/service-routes.ts'
import { openApiDocument } from './openapi.ts'
import { registerDocs } from './docs.ts'

export interface GatewayOptions {
  readonly local: readonly ServiceInstance[]
  readonly remote: readonly { contract: Contract, url: string }[]
  /** Origins allowed to call the API from a browser (CORS_ORIGINS); empty: none. */
  readonly corsOrigins: readonly string[]
  readonly requestTimeoutMs: number
  readonly version: string
}

export async function mountGateway(app: FastifyInstance, options: GatewayOptions): Promise<void> {
  await app.register(helmet, {
    // An API answers with JSON, never with a page to frame or run scripts in; /docs sets its own.
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    hsts: false, // set by whatever terminates TLS; see README
  })
  // No allowed origins: no CORS headers at all, so browsers keep the same-origin policy.
  if (options.corsOrigins.length > 0) await app.register(cors, { origin: [...options.corsOrigins], credentials: true, maxAge: 600 })
  app.addHook('onRequest', (request, reply, done) => {
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store')
    done()
  })

  for (const instance of options.local) {
    await app.register(serviceRoutes(instance, { requestTimeoutMs: options.requestTimeoutMs }))
  }
  for (const { contract, url } of options.remote) {
    for (const prefix of routePrefixes(contract)) {
      await app.register(httpProxy, { upstream: url, prefix, rewritePrefix: prefix, http2: false })
    }
  }

  const document = openApiDocument([...options.local.map((i) => i.contract), ...options.remote.map((r) => r.contract)], options.version)
  app.get('/openapi.json', async () => document)
  await app.register(async (docs) => {
    docs.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
    })
    registerDocs(docs)
  })
}
