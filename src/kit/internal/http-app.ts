// The HTTP server every Mosaic process runs (a service alone, or the gateway with services
// inside): problem+json for every error, TypeBox validation, a server span and a duration
// metric per request, and the health endpoints (metrics have a port of their own: runtime/metrics-server.ts).
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyError,
  type FastifyRequest,
  type FastifyReply,
  type FastifyBaseLogger,
  type FastifySchemaCompiler,
} from 'fastify'
import type { Logger } from 'pino'
import type { Span, Context } from '@opentelemetry/api'
import { MosaicError, toMosaicError, toProblem } from '../errors.ts'
import { validator } from '../validation.ts'
import {
  startSpan,
  contextFrom,
  linkFrom,
  rootContext,
  untraced,
  UNTRACED_HEADER,
  UNTRACED_TOKEN,
  traceparentOf,
  failed,
  SpanKind,
  SpanStatusCode,
} from '../telemetry/tracing.ts'
import { httpServerDuration } from '../telemetry/metrics.ts'
import type { Caller } from '../identity.ts'
import { trackAllowedMethods } from './allowed-methods.ts'
import { clientGone, createAbortLog } from './client-abort.ts'
import { limitConnectionsPerClient, serverOptions, type ConnectionLimits } from './connection-limits.ts'

export interface Readiness {
  /** starting → ready → draining; only `ready` answers 200 on /health/ready. */
  state: 'starting' | 'ready' | 'draining'
  /**
   * Named checks (database, bus, upstreams); each resolves or throws. One that resolves to a
   * `warn` result leaves the process ready but reports it degraded (a service it calls is down).
   */
  readonly checks: Record<string, () => Promise<void | CheckResult>>
}

export interface CheckResult {
  readonly status: 'pass' | 'warn'
  readonly output?: string
  readonly [detail: string]: unknown
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
  /**
   * Route prefixes not traced, besides the health checks: the operator console's own polling, which
   * would otherwise fill each process's ring of recent traces with itself (kit/telemetry/recent-traces.ts).
   */
  readonly untracedRoutes?: readonly string[]
  /** How long a client may take and how many connections it may hold; Node's defaults without. */
  readonly connections?: ConnectionLimits
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body types a route takes, when not JSON (a route that streams its body): named by a 415. */
    accepts?: readonly string[]
  }
  interface FastifyRequest {
    trace: { span: Span; context: Context; started: number }
    /** The service whose route answered (for the `service` label behind the embedded gateway). */
    handledBy?: string
    /** Who is calling: anonymous from `request.ip` until the gateway (or a verified edge credential) says otherwise. */
    caller: Caller
  }
}

const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
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
  if (error instanceof SyntaxError && fe.statusCode === 400)
    return new MosaicError('malformed_json', { detail: error.message })
  const upstream: Record<number, string> = { 502: 'bad_gateway', 503: 'unavailable', 504: 'deadline_exceeded' }
  if (fe.statusCode && upstream[fe.statusCode])
    return new MosaicError(upstream[fe.statusCode]!, { detail: fe.message, cause: error })
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
    return new MosaicError('bad_request', { detail: fe.message, status: fe.statusCode })
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
  const problem =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new MosaicError('headers_too_large', { detail: 'the request line and headers exceed HEADER_LIMIT' })
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new MosaicError('request_timeout', {
            detail: 'the request did not arrive whole within HEADERS_TIMEOUT_MS / RECEIVE_TIMEOUT_MS',
          })
        : new MosaicError('bad_request', { detail: 'the request could not be parsed as HTTP' })
  const body = JSON.stringify(toProblem(problem))
  socket.end(
    [
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
      'content-type: application/problem+json; charset=utf-8',
      `content-length: ${Buffer.byteLength(body)}`,
      'x-content-type-options: nosniff',
      'cache-control: no-store',
      'connection: close',
      '',
      body,
    ].join('\r\n'),
  )
}

/**
 * A 415 names the types the route takes (a route that streams its body declares them in its
 * config; every other route takes JSON), in the detail and in Accept-Post / Accept-Patch.
 */
function unsupportedType(request: FastifyRequest, reply: FastifyReply): MosaicError {
  const accepts = request.routeOptions.config.accepts ?? ['application/json']
  if (request.method === 'POST' || request.method === 'PATCH')
    reply.header(`accept-${request.method.toLowerCase()}`, accepts.join(', '))
  const sent = request.headers['content-type'] ?? 'no content type'
  return new MosaicError('unsupported_media_type', { detail: `send the body as ${accepts.join(' or ')}, not ${sent}` })
}

export function traceIdOf(request: FastifyRequest): string | undefined {
  const ctx = request.trace?.span.spanContext()
  return ctx && ctx.traceId !== '00000000000000000000000000000000' ? ctx.traceId : undefined
}

/**
 * One validator for everything: TypeBox compiled, failures as MosaicError with field paths. URL
 * parts arrive as strings and are converted to their declared types first.
 */
const compileValidator: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const v = validator(schema as never, httpPart === 'body' ? {} : { code: 'invalid_parameters', coerce: true })
  return (data: unknown) => {
    try {
      return { value: v.parse(data) }
    } catch (error) {
      return { error: error as Error }
    }
  }
}

/**
 * Fastify asks for its serializer only for a route with a response schema, and none has one (replies
 * are JSON.stringify'd). One added later would expect fast-json-stringify's filtering: said at once.
 */
const buildSerializer = (): never => {
  throw new Error('Mosaic routes declare no response schema (kit/internal/http-app.ts gives Fastify no serializer)')
}

export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const {
    name,
    log,
    readiness,
    bodyLimit = 1024 * 1024,
    headerLimit = 16 * 1024,
    trustProxy = false,
    trustIncomingTrace = false,
    untracedRoutes = [],
  } = options
  const { connections } = options
  const limits = connections ? serverOptions(connections) : undefined
  const app = Fastify({
    ...limits,
    http: { maxHeaderSize: headerLimit, ...limits?.http },
    trustProxy,
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // errors are logged by the error handler
    bodyLimit,
    return503OnClosing: false, // answered below, as problem+json, once draining starts
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    clientErrorHandler: answerClientError,
    // Fastify loads its own compilers (Ajv, fast-json-stringify) when an app is made unless given
    // others: a fifth of a second of every start spent on code nothing here calls. (Its types name
    // Ajv's factories; these are called the same way.)
    schemaController: { compilersFactory: { buildValidator: () => compileValidator, buildSerializer } as never },
  })

  if (connections) limitConnectionsPerClient(app.server, connections.maxPerClient)
  const allowedMethods = trackAllowedMethods(app, { ignoreTrailingSlash: true })
  const logAbort = createAbortLog(log)

  // Fastify parses text/plain by default, which turns a non-JSON body into a 422 on the body's
  // schema; without a parser for it, any body that is not JSON is a 415, as for other types.
  app.removeContentTypeParser('text/plain')

  // Probes are not traced: they would bury the requests worth looking at. Decided once per route.
  const tracedRoutes = new Map<string, boolean>()
  const traced = (route: string): boolean => {
    let yes = tracedRoutes.get(route)
    if (yes === undefined)
      tracedRoutes.set(
        route,
        (yes = !route.startsWith('/health/') && !untracedRoutes.some((prefix) => route.startsWith(prefix))),
      )
    return yes
  }
  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const { span, context } =
      !traced(route) || request.headers[UNTRACED_HEADER] === UNTRACED_TOKEN
        ? untraced()
        : startSpan(`${request.method} ${route}`, {
            kind: SpanKind.SERVER,
            service: name,
            parent: trustIncomingTrace ? contextFrom(request.headers) : rootContext(),
            ...(trustIncomingTrace ? {} : { links: linkFrom(request.headers) }),
          })
    // Set on a span that records them only: most requests' spans under load are not recorded.
    if (span.isRecording())
      span.setAttributes({ 'http.request.method': request.method, 'http.route': route, 'url.path': request.url })
    request.trace = { span, context, started: performance.now() }
    // The caller can find its trace: W3C Trace Context Level 2's response header.
    const traceparent = traceparentOf(span)
    if (traceparent) reply.header('traceresponse', traceparent)
    request.caller = { clientIp: request.ip }
    // Requests that arrive on an open connection after draining began are turned away (health
    // checks still answer, so a load balancer sees /health/ready fail); those in flight finish.
    if (readiness.state === 'draining' && !request.url.startsWith('/health/')) {
      const problem = toProblem(
        new MosaicError('unavailable', { detail: `${name} is shutting down` }),
        request.url,
        traceIdOf(request),
      )
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
    httpServerDuration.observe(
      {
        service: request.handledBy ?? name,
        http_request_method: request.method,
        http_route: route,
        http_response_status_code: reply.statusCode,
      },
      (performance.now() - request.trace.started) / 1000,
    )
    const { span } = request.trace
    span.setAttribute('http.response.status_code', reply.statusCode)
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: String(reply.statusCode) })
    span.end()
    done()
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mosaic =
      error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? unsupportedType(request, reply) : asMosaicError(error)
    if (clientGone(request)) logAbort(request)
    else if (mosaic.status >= 500) {
      failed(request.trace.span, error)
      request.log.error(
        { err: error, trace_id: traceIdOf(request), span_id: request.trace.span.spanContext().spanId },
        'request failed',
      )
    }
    if (mosaic.retryAfter !== undefined) reply.header('retry-after', String(mosaic.retryAfter))
    else if (mosaic.status === 503) reply.header('retry-after', '1')
    return reply
      .code(mosaic.status)
      .type('application/problem+json')
      .send(toProblem(mosaic, request.url, traceIdOf(request)))
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!
    // A route that answers this method called notFound itself (`/docs/:file` with an unknown file): a 404.
    const methods = allowedMethods(path)
    const allowed = methods.includes(request.method) ? [] : methods
    if (allowed.length > 0) reply.header('allow', allowed.join(', '))
    const error =
      allowed.length > 0
        ? new MosaicError('method_not_allowed', {
            detail: `${path} answers to ${allowed.join(', ')}, not ${request.method}`,
          })
        : new MosaicError('route_not_found', { detail: `no route for ${request.method} ${path}` })
    return reply
      .code(error.status)
      .type('application/problem+json')
      .send(toProblem(error, request.url, traceIdOf(request)))
  })

  app.get('/health/live', async (_request, reply) => {
    return reply.type('application/health+json').send({ status: 'pass', serviceId: name })
  })

  app.get('/health/ready', async (_request, reply) => {
    const checks: Record<string, { status: 'pass' | 'warn' | 'fail'; output?: string }[]> = {}
    let ok = readiness.state === 'ready'
    let degraded = false
    await Promise.all(
      Object.entries(readiness.checks).map(async ([check, run]) => {
        try {
          const result = await run()
          degraded ||= result?.status === 'warn'
          checks[check] = [result ?? { status: 'pass' }]
        } catch (error) {
          ok = false
          checks[check] = [{ status: 'fail', output: (error as Error).message }]
        }
      }),
    )
    const output = readiness.state !== 'ready' ? readiness.state : degraded ? 'degraded' : undefined
    return reply
      .code(ok ? 200 : 503)
      .type('application/health+json')
      .send({
        status: ok ? (degraded ? 'warn' : 'pass') : 'fail',
        serviceId: name,
        ...(output ? { output } : {}),
        checks,
      })
  })

  return app
}
