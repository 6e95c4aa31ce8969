// Mounts a service instance on a Fastify app: its public routes from the contract, and (on a
// service's own server) its actions endpoint for calls from other processes.
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, RouteOptions as RouteOptionsOf } from 'fastify'
import type { ServiceInstance } from './host.ts'
import type { RouteRequest } from './call-context.ts'
import type { Caller, Identity } from '../identity.ts'
import type { RouteInput } from '../service.ts'
import { runInContext, serveAs } from '../telemetry/tracing.ts'
import { knownJson } from '../cache/serialized.ts'
import { ACTIONS_PATH, TIMEOUT_HEADER, actionSpan } from './transport.ts'
import { EDGE_HEADER, CALLER_HEADER, type Credentials } from './credentials.ts'

/** What Fastify names a JSON answer it serialises itself. */
const JSON_TYPE = 'application/json; charset=utf-8'

export interface RouteOptions {
  /** Time a public request may take (REQUEST_TIMEOUT_MS); longer → 504. */
  readonly requestTimeoutMs: number
}

/** The service's public routes, as an encapsulated plugin: its hooks never leak into a sibling's. */
export function serviceRoutes(instance: ServiceInstance, options: RouteOptions): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    for (const [key, spec] of Object.entries(instance.contract.routes)) {
      // On the service's own server the request's span is already the service's; behind the
      // embedded gateway the gateway's is, and the service gets a server span of its own inside
      // it (named for the route), as it would have behind a proxy.
      const name = `${spec.method} ${spec.path}`
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
          serveAs(request.trace.context, instance.name, name, async () => {
            request.handledBy = instance.name
            const input = {
              params: request.params,
              query: request.query,
              body: request.body,
              headers: request.headers,
            } as RouteInput<never>
            const answer = new Answer(request.caller, reply)
            const result = await instance.handle(key, input, Date.now() + options.requestTimeoutMs, answer)
            const code = answer.status ?? spec.status ?? 200
            reply.code(code)
            if (code !== 204 && code !== 304) {
              // A value from the read cache goes out as the JSON the cache already made of it
              // (unless the handler chose another type, which Fastify's serialiser would honour).
              const json = knownJson(result)
              if (json !== undefined && !reply.hasHeader('content-type')) return reply.type(JSON_TYPE).send(json)
              // Fastify sends strings, Buffers and Readables as they are, and anything else as JSON.
              return reply.send(result)
            }
            if (result instanceof Readable) result.destroy() // a body was opened but is not to be sent
            return reply.send()
          }),
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

/** A request as its handler's context sees it: who is calling, and the answer's headers and status. */
class Answer implements RouteRequest {
  readonly identity: Identity | undefined
  readonly clientIp: string
  status: number | undefined
  readonly #reply: FastifyReply
  constructor(caller: Caller, reply: FastifyReply) {
    this.identity = caller.identity
    this.clientIp = caller.clientIp
    this.#reply = reply
  }
  setHeader(name: string, value: string): void {
    this.#reply.header(name, value)
  }
  setStatus(status: number): void {
    this.status = status
  }
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
