// OpenTelemetry spans for HTTP, calls, SQL transactions and events. Spans are made by the kit
// itself at those few points rather than by auto-instrumentation, which for ESM needs loader
// hooks and patches every library in the process.
//
// With OTEL_EXPORTER_OTLP_ENDPOINT unset, the sampler records nothing: spans are non-recording
// shells that still carry real trace ids (for logs, problem documents and `traceparent`), so
// tracing costs an id and a context switch per span and nothing is exported.
import { context, propagation, trace, SpanKind, SpanStatusCode, type Span, type Attributes, type Context } from '@opentelemetry/api'
import { NodeTracerProvider, BatchSpanProcessor, ParentBasedSampler, AlwaysOnSampler, AlwaysOffSampler } from '@opentelemetry/sdk-trace-node'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { createRequire } from 'node:module'

export { SpanKind }

let provider: NodeTracerProvider | undefined

/** Sets up the process's tracer provider once; later calls are no-ops. Returns a flush-and-stop function. */
export function initTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): () => Promise<void> {
  if (!provider) {
    const exporting = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && env.OTEL_SDK_DISABLED !== 'true'
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? serviceName }),
      sampler: new ParentBasedSampler({ root: exporting ? new AlwaysOnSampler() : new AlwaysOffSampler() }),
      spanProcessors: exporting ? [new BatchSpanProcessor(new (otlpExporter())())] : [],
    })
    provider.register()
  }
  const p = provider
  return async () => { await p.forceFlush(); await p.shutdown() }
}

/** The OTLP exporter (and the protobuf code it brings) is loaded only by a process that exports. */
function otlpExporter(): typeof import('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter {
  const load = createRequire(import.meta.url) as (id: string) => typeof import('@opentelemetry/exporter-trace-otlp-http')
  return load('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter
}

const tracer = trace.getTracer('mosaic')

export interface SpanOptions {
  readonly kind?: SpanKind
  readonly attributes?: Attributes
  /** Parent context, e.g. extracted from an incoming `traceparent`; defaults to the active one. */
  readonly parent?: Context
}

/** Runs `fn` inside a new active span; an exception marks the span as failed and is rethrown. */
export function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, options.parent ?? context.active(), async (span) => {
    try {
      return await fn(span)
    } catch (error) {
      span.recordException(error as Error)
      span.setStatus({ code: SpanStatusCode.ERROR })
      throw error
    } finally {
      span.end()
    }
  })
}

/** Starts a span that the caller ends (for HTTP requests, whose end is an event, not a return). */
export function startSpan(name: string, options: SpanOptions): { span: Span, context: Context } {
  const parent = options.parent ?? context.active()
  const span = tracer.startSpan(name, { kind: options.kind, attributes: options.attributes }, parent)
  return { span, context: trace.setSpan(parent, span) }
}

export function currentTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext()
  return ctx && ctx.traceId !== '00000000000000000000000000000000' ? ctx.traceId : undefined
}

/** The W3C `traceparent` (and `tracestate`) of the active span, for an outgoing request or event. */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier
}

export function contextFrom(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers)
}

export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn)
}
