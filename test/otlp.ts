// An OTLP/HTTP receiver for tests: records every span sent to it (JSON encoding, what the kit's
// exporter sends), with the service.name and process.pid of its resource.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { Cleanup } from './infra.ts'

export const Kind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const

export interface RecordedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly status: { code?: number }
  readonly links: readonly { traceId: string; spanId: string }[]
  readonly attributes: Readonly<Record<string, unknown>>
  readonly service: string
  readonly pid: number
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
type KeyValue = { key: string; value: AnyValue }
const valueOf = (v: AnyValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue))
const attributesOf = (list: KeyValue[] = []): Record<string, unknown> =>
  Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]))

export interface Receiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string
  readonly spans: RecordedSpan[]
  /** Waits until `done(spans)` holds (spans are batched: they come a moment after they end). */
  until(done: (spans: readonly RecordedSpan[]) => boolean, timeoutMs?: number): Promise<readonly RecordedSpan[]>
}

export async function otlpReceiver(t: Cleanup): Promise<Receiver> {
  const spans: RecordedSpan[] = []
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('end', () => {
        if (request.url === '/v1/traces') {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            resourceSpans: {
              resource: { attributes: KeyValue[] }
              scopeSpans: {
                spans: (Omit<RecordedSpan, 'attributes' | 'service' | 'pid' | 'links'> & {
                  attributes: KeyValue[]
                  links?: { traceId: string; spanId: string }[]
                })[]
              }[]
            }[]
          }
          for (const { resource, scopeSpans } of body.resourceSpans) {
            const r = attributesOf(resource.attributes)
            for (const scope of scopeSpans) {
              for (const s of scope.spans) {
                spans.push({
                  ...s,
                  parentSpanId: s.parentSpanId || undefined,
                  links: s.links ?? [],
                  attributes: attributesOf(s.attributes),
                  service: String(r['service.name']),
                  pid: Number(r['process.pid']),
                })
              }
            }
          }
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    spans,
    async until(done, timeoutMs = 20_000) {
      for (const end = Date.now() + timeoutMs; !done(spans) && Date.now() < end; )
        await new Promise((resolve) => setTimeout(resolve, 50))
      return spans
    },
  }
}
