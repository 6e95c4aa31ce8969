// The gateway's proxy to services in other processes: each public request goes to an instance
// chosen by the service's upstream (balancing, breaker, bulkhead, retries: kit/calls), as a
// plain undici request with the verified caller in a signed credential. Written on undici
// directly rather than with @fastify/http-proxy: the upstream must pick the instance per
// attempt and see each answer to count failures, and the plugin logged two lines per request.
import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, FastifyReply } from 'fastify'
import type { Contract } from '../kit/contract.ts'
import { routePrefixes } from '../kit/contract.ts'
import { MosaicError, fromProblem } from '../kit/errors.ts'
import { traceHeaders } from '../kit/telemetry/tracing.ts'
import { EDGE_HEADER, CALLER_HEADER, type Credentials } from '../kit/internal/credentials.ts'
import { notSent, type Upstream } from '../kit/calls/upstream.ts'

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to the message.
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  EDGE_HEADER,
  CALLER_HEADER,
])
const unsentCodes = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT'])
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])
/**
 * Bodies up to this size, with a declared length, are read whole before the first attempt: one
 * that found no listener (a refused connection) can then go to another instance with the same
 * bytes. Larger or chunked bodies stream through once. Answers up to it are read whole too: one
 * write of head and body to the client instead of a stream piped through (a tenth of the
 * gateway's CPU on a small proxied read went to the stream machinery).
 */
const BUFFERED_BYTES = 64 * 1024
const declaredSmall = (length: string | string[] | undefined): boolean =>
  typeof length === 'string' && Number(length) <= BUFFERED_BYTES

/** The whole of a (small) stream. Not node:stream/consumers' buffer(), which goes through a Blob: 4.6 % of the gateway's CPU. */
async function readWhole(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

// The upstream continues the gateway's span, never a context the caller sent (see http-app.ts).
const callerTrace = new Set(['traceparent', 'tracestate'])

function forwarded(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) if (!hopByHop.has(name) && !callerTrace.has(name)) out[name] = headers[name]!
  return out
}

export interface ProxyOptions {
  readonly contract: Contract
  readonly upstream: Upstream
  readonly credentials: Credentials
  readonly requestTimeoutMs: number
}

export function proxyRoutes({ contract, upstream, credentials, requestTimeoutMs }: ProxyOptions): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    // Bodies pass through unparsed (after the edge's body limits, which wrap the stream).
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', async (request: FastifyRequest, payload: Readable) =>
      declaredSmall(request.headers['content-length']) ? readWhole(payload) : payload,
    )
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const body = request.body as Readable | Buffer | undefined
      const headers = forwarded(request.headers)
      Object.assign(headers, traceHeaders(request.trace.context))
      headers[EDGE_HEADER] = credentials.signEdge(request.caller)
      const res = await upstream.send(
        async ({ pool, info }, signal) => {
          // A streamed body can be sent once: after an attempt that read it (or destroyed it), another would send it empty.
          if (body instanceof Readable && (body.destroyed || body.readableDidRead))
            throw new MosaicError('bad_gateway', {
              detail: `${contract.name}: the request's body went with an attempt that failed; send the request again`,
            })
          try {
            const answer = await pool.request({
              method: request.method as 'GET',
              path: request.url,
              headers,
              body: body ?? null,
              signal,
            })
            // A 5xx counts against the instance (its breaker) and may be retried: read, and rethrown as the error it reports.
            if (answer.statusCode >= 500)
              throw fromProblem(await answer.body.json().catch(() => undefined), answer.statusCode)
            return answer
          } catch (error) {
            if (error instanceof MosaicError) throw error
            if (signal.aborted)
              throw new MosaicError('deadline_exceeded', { detail: `${contract.name} did not answer in time` })
            const failure = new MosaicError('bad_gateway', {
              detail: `${contract.name} at ${info.url}: ${(error as Error).message}`,
              cause: error,
            })
            throw unsentCodes.has((error as { code?: string }).code ?? '') ? notSent(failure) : failure
          }
        },
        {
          deadline: Date.now() + requestTimeoutMs,
          // Sent twice only when that is safe and the same body can be sent again.
          idempotent:
            (safeMethods.has(request.method) || request.headers['idempotency-key'] !== undefined) &&
            !(body instanceof Readable),
        },
      )
      reply.code(res.statusCode)
      for (const name in res.headers) if (!hopByHop.has(name)) reply.header(name, res.headers[name])
      return reply.send(declaredSmall(res.headers['content-length']) ? await readWhole(res.body) : res.body)
    }
    for (const prefix of routePrefixes(contract)) {
      app.all(prefix, handler)
      app.all(`${prefix}/*`, handler)
    }
  }
}
