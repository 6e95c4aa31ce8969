// The HTTP server every Mosaic process runs (a service alone, or the gateway with services
// inside): problem+json for every error, TypeBox validation, a server span and a duration
// metric per request, and the health and metrics endpoints.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyInstance, type FastifyError, type FastifyRequest, type FastifyBaseLogger } from 'fastify'
import type { Logger } from 'pino'
import type { Span, Context } from '@opentelemetry/api'
import { MosaicError, toMosaicError, toProblem } from '../errors.ts'
import { validator } from '../validation.ts'
import { startSpan, contextFrom, linkFrom, rootContext, untraced, traceHeaders, failed, runInContext, SpanKind, SpanStatusCode } from '../telemetry/tracing.ts'
import { httpServerDuration, registry } from '../telemetry/metrics.ts'
import type { Caller } from '../identity.ts'

export interface Readiness {
  /** starting → ready → draining; only `ready` answers 200 on /health/ready. */
  state: 'starting' | 'ready' | 'draining'
  /** Named checks (database, bus); each resolves or throws. */
  readonly checks: Record<string, () => Promise<void>>
}

export interface HttpAppOptions {
  readonly name: string
  readonly log: Logger
  readonly readiness: Readiness
  /** Largest request body accepted, in bytes (BODY_LIMIT); larger → 413. */
  readonly bodyLimit?: number
  /** Largest request head (request line and headers), in bytes (HEADER_LIMIT); larger → 431. */
  readonly headerLimit?: number
  /** Believe X-Forwarded-For from these proxies (TRUST_PROXY): Fastify's trustProxy. */
  readonly trustProxy?: boolean | string
  /**
   * Continue the trace of an incoming `traceparent` (a service behind the gateway, or TRACE_TRUST_INCOMING);
   * otherwise a request starts a trace of its own that links the caller's (a public edge).
   */
  readonly trustIncomingTrace?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    trace: { span: Span, context: Context, started: number }
    /** The service whose route answered (for the `service` label behind the embedded gateway). */
    handledBy?: string
    /** Who is calling: anonymous from `request.ip` until the gateway (or a verified edge credential) says otherwise. */
    caller: Caller
  }
}

const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  // The gateway's proxy (reply-from) could not get an answer from the upstream service.
  FST_REPLY_FROM_INTERNAL_SERVER_ERROR: 'bad_gateway',
  FST_REPLY_FROM_BAD_GATEWAY: 'bad_gateway',
  ECONNRESET: 'bad_gateway',
  UND_ERR_SOCKET: 'bad_gateway',
}

function asMosaicError(error: FastifyError | MosaicError | Error): MosaicError {
  if (error instanceof MosaicError) return error
  const fe = error as FastifyError
  const mapped = fe.code && fastifyCodes[fe.code]
  if (mapped) return new MosaicError(mapped, { detail: fe.message, cause: error })
  if (error instanceof SyntaxError && fe.statusCode === 400) return new MosaicError('malformed_json', { detail: error.message })
  const upstream: Record<number, string> = { 502: 'bad_gateway', 503: 'unavailable', 504: 'deadline_exceeded' }
  if (fe.statusCode && upstream[fe.statusCode]) return new MosaicError(upstream[fe.statusCode]!, { detail: fe.message, cause: error })
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return new MosaicError('bad_request', { detail: fe.message, status: fe.statusCode })
  return toMosaicError(error)
}

/**
 * A request Node could not parse (a head over HEADER_LIMIT, garbage) never reaches Fastify's
 * handlers; it still gets a problem document, with the headers every answer carries.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const problem = error.code === 'HPE_HEADER_OVERFLOW'
    ? new MosaicError('headers_too_large', { detail: 'the request line and headers exceed HEADER_LIMIT' })
    : new MosaicError('bad_request', { detail: 'the request could not be parsed as HTTP' })
  const body = JSON.stringify(toProblem(problem))
  socket.end([
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`, 'content-type: application/problem+json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`, 'x-content-type-options: nosniff', 'cache-control: no-store', 'connection: close', '', body,
  ].join('\r\n'))
}

export function traceIdOf(request: FastifyRequest): string | undefined {
  const ctx = request.trace?.span.spanContext()
  return ctx && ctx.traceId !== '00000000000000000000000000000000' ? ctx.traceId : undefined
}

export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const { name, log, readiness, bodyLimit = 1024 * 1024, headerLimit = 16 * 1024, trustProxy = false, trustIncomingTrace = false } = options
  const app = Fastify({
    http: { maxHeaderSize: headerLimit },
    trustProxy,
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // errors are logged by the error handler
    bodyLimit,
    return503OnClosing: false, // answered below, as problem+json, once draining starts
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    clientErrorHandler: answerClientError,
  })

  // Fastify parses text/plain by default, which turns a non-JSON body into a 422 on the body's
  // schema; without a parser for it, any body that is not JSON is a 415, as for other types.
  app.removeContentTypeParser('text/plain')

  // One validator for everything: TypeBox compiled, failures as MosaicError with field paths.
  // URL parts arrive as strings and are converted to their declared types first.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const v = validator(schema as never, httpPart === 'body' ? {} : { code: 'invalid_parameters', coerce: true })
    return (data: unknown) => {
      try {
        return { value: v.parse(data) }
      } catch (error) {
        return { error: error as Error }
      }
    }
  })

  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    // Probes and scrapes are not traced: they would bury the requests worth looking at.
    const { span, context } = route.startsWith('/health/') || route === '/metrics' ? untraced() : startSpan(`${request.method} ${route}`, {
      kind: SpanKind.SERVER,
      service: name,
      parent: trustIncomingTrace ? contextFrom(request.headers) : rootContext(),
      ...(trustIncomingTrace ? {} : { links: linkFrom(request.headers) }),
      attributes: { 'http.request.method': request.method, 'http.route': route, 'url.path': request.url },
    })
    request.trace = { span, context, started: performance.now() }
    // The caller can find its trace: W3C Trace Context Level 2's response header.
    const { traceparent } = traceHeaders(context)
    if (traceparent) reply.header('traceresponse', traceparent)
    request.caller = { clientIp: request.ip }
    // Requests that arrive on an open connection after draining began are turned away (health
    // checks still answer, so a load balancer sees /health/ready fail); those in flight finish.
    if (readiness.state === 'draining' && !request.url.startsWith('/health/')) {
      const problem = toProblem(new MosaicError('unavailable', { detail: `${name} is shutting down` }), request.url, traceIdOf(request))
      reply.code(503).header('retry-after', '1').type('application/problem+json').send(problem)
      return
    }
    done()
  })

  // A response sent while draining closes its connection: a kept-alive client would otherwise
  // hold the shutdown open until the keep-alive timeout (72 s in Fastify).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (readiness.state === 'draining') reply.header('connection', 'close')
    done(null, payload)
  })

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    httpServerDuration.observe({ service: request.handledBy ?? name, http_request_method: request.method, http_route: route, http_response_status_code: reply.statusCode },
      (performance.now() - request.trace.started) / 1000)
    const { span } = request.trace
    span.setAttribute('http.response.status_code', reply.statusCode)
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: String(reply.statusCode) })
    span.end()
    done()
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mosaic = asMosaicError(error)
    if (mosaic.status >= 500) {
      failed(request.trace.span, error)
      request.log.error({ err: error, trace_id: traceIdOf(request), span_id: request.trace.span.spanContext().spanId }, 'request failed')
    }
    if (mosaic.retryAfter !== undefined) reply.header('retry-after', String(mosaic.retryAfter))
    else if (mosaic.status === 503) reply.header('retry-after', '1')
    return reply.code(mosaic.status).type('application/problem+json').send(toProblem(mosaic, request.url, traceIdOf(request)))
  })

  app.setNotFoundHandler((request, reply) => {
    const error = new MosaicError('route_not_found', { detail: `no route for ${request.method} ${request.url.split('?')[0]}` })
    return reply.code(404).type('application/problem+json').send(toProblem(error, request.url, traceIdOf(request)))
  })

  app.get('/health/live', async (_request, reply) => {
    return reply.type('application/health+json').send({ status: 'pass', serviceId: name })
  })

  app.get('/health/ready', async (_request, reply) => {
    const checks: Record<string, { status: 'pass' | 'fail', output?: string }[]> = {}
    let ok = readiness.state === 'ready'
    await Promise.all(Object.entries(readiness.checks).map(async ([check, run]) => {
      try {
        await run()
        checks[check] = [{ status: 'pass' }]
      } catch (error) {
        ok = false
        checks[check] = [{ status: 'fail', output: (error as Error).message }]
      }
    }))
    return reply.code(ok ? 200 : 503).type('application/health+json')
      .send({ status: ok ? 'pass' : 'fail', serviceId: name, ...(readiness.state === 'ready' ? {} : { output: readiness.state }), checks })
  })

  // In the request's (untraced) context: gauges that query a database make no spans.
  app.get('/metrics', (request, reply) => runInContext(request.trace.context, async () => {
    return reply.type(registry.contentType).send(await registry.metrics())
  }))

  return app
}
