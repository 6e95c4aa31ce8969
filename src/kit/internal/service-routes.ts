// Mounts a service instance on a Fastify app: its public routes from the contract, and (on a
// service's own server) its actions endpoint for calls from other processes.
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, RouteOptions as RouteOptionsOf } from 'fastify'
import type { ServiceInstance } from './host.ts'
import type { RouteInput } from '../service.ts'
import { runInContext, currentService, withSpan, SpanKind } from '../telemetry/tracing.ts'
import { ACTIONS_PATH, TIMEOUT_HEADER, actionSpan } from './transport.ts'
import { EDGE_HEADER, CALLER_HEADER, type Credentials } from './credentials.ts'

export interface RouteOptions {
  /** Time a public request may take (REQUEST_TIMEOUT_MS); longer → 504. */
  readonly requestTimeoutMs: number
}

/** The service's public routes, as an encapsulated plugin: its hooks never leak into a sibling's. */
export function serviceRoutes(instance: ServiceInstance, options: RouteOptions): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    for (const [key, spec] of Object.entries(instance.contract.routes)) {
      const route: RouteOptionsOf = {
        method: spec.method,
        url: spec.path,
        schema: Object.fromEntries(
          Object.entries({
            params: spec.params,
            querystring: spec.query,
            body: spec.stream ? undefined : spec.body,
          }).filter(([, v]) => v),
        ),
        handler: (request, reply) =>
          runInContext(request.trace.context, () =>
            asService(instance.name, `${spec.method} ${spec.path}`, async () => {
              request.handledBy = instance.name
              const input = {
                params: request.params,
                query: request.query,
                body: request.body,
                headers: request.headers,
              } as RouteInput<never>
              let status: number | undefined
              const result = await instance.handle(key, input, Date.now() + options.requestTimeoutMs, {
                ...request.caller,
                setHeader: (name, value) => void reply.header(name, value),
                setStatus: (code) => {
                  status = code
                },
              })
              const code = status ?? spec.status ?? 200
              reply.code(code)
              // Fastify sends strings, Buffers and Readables as they are, and anything else as JSON.
              if (code !== 204 && code !== 304) return reply.send(result)
              if (result instanceof Readable) result.destroy() // a body was opened but is not to be sent
              return reply.send()
            }),
          ),
      }
      if (!spec.stream) {
        app.route(route)
        continue
      }
      // A child context of its own, so the pass-through parser reaches this route and no other
      // (a multipart body sent to a sibling route stays a 415), and a JSON body sent here is a
      // 415 too rather than an object where the handler expects a stream. Fastify's bodyLimit
      // does not apply to a pass-through parser: the handler enforces its own limit.
      route.config = { accepts: spec.stream }
      await app.register(async (child) => {
        child.removeAllContentTypeParsers()
        child.addContentTypeParser([...spec.stream!], (_request, payload, done) => done(null, payload))
        child.route(route)
      })
    }
  }
}

/**
 * Runs a route's handler as `service`. On the service's own server the request's span is already
 * the service's; behind the embedded gateway the gateway's span is, and the service gets a server
 * span of its own inside it, as it would have behind a proxy.
 */
function asService<T>(service: string, name: string, fn: () => Promise<T>): Promise<T> {
  return currentService() === service ? fn() : withSpan(name, { kind: SpanKind.SERVER, service }, fn)
}

const INTERNAL_PREFIX = '/_mosaic/'

/**
 * A service's own server: requests carry the caller the gateway verified in a signed credential
 * (anonymous without one), and the actions endpoint admits only other services.
 */
export function trustEdge(app: FastifyInstance, credentials: Credentials): void {
  app.addHook('onRequest', async (request) => {
    // By the route matched, not the raw URL, which may spell the same path differently (/%5Fmosaic/...).
    // The actions endpoint and the operator endpoint (runtime/ops-endpoint.ts): other processes only.
    if (request.routeOptions.url?.startsWith(INTERNAL_PREFIX)) {
      await credentials.verifyCaller(String(request.headers[CALLER_HEADER] ?? ''))
      return
    }
    const token = request.headers[EDGE_HEADER]
    if (typeof token === 'string') request.caller = await credentials.verifyEdge(token)
  })
}

/** `POST /_mosaic/actions/:name`: what the HTTP transport calls. Not mounted on the gateway. */
export function actionsEndpoint(instance: ServiceInstance, maxTimeoutMs: number): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    app.post<{ Params: { action: string } }>(`${ACTIONS_PATH}/:action`, (request) =>
      runInContext(request.trace.context, () => {
        const { name, attributes } = actionSpan(instance.name, request.params.action)
        request.trace.span.updateName(name).setAttributes(attributes)
        const asked = Number(request.headers[TIMEOUT_HEADER])
        const timeout = Number.isFinite(asked) && asked > 0 ? Math.min(asked, maxTimeoutMs) : maxTimeoutMs
        return instance.invoke(request.params.action, request.body, Date.now() + timeout)
      }),
    )
  }
}
