// OpenTelemetry spans for HTTP, calls, SQL, transactions, events and saga steps. Spans are made by
// the kit itself at those few points rather than by auto-instrumentation, which for ESM needs loader
// hooks and patches every library in the process.
//
// Each service is its own `service.name`, in one process as in many: a tracer provider per service
// (its resource), all sharing the process's one sampler and batch exporter. Which service a span
// belongs to is carried in the context: the kit enters a service wherever its code starts running
// (an action, a route, an event, its own loops), and spans made there inherit it.
//
// Spans are recorded when they go somewhere: exported (OTEL_EXPORTER_OTLP_ENDPOINT), or kept in
// the process's ring of recent traces for the operator console (RECENT_TRACES, on by default;
// recent-traces.ts), which takes at most RECENT_TRACES_PER_SECOND new traces a second
// (recent-sampler.ts). Spans recorded for neither are non-recording shells that still carry real
// trace ids (for logs, problem documents and `traceparent`).
import {
  context,
  propagation,
  trace,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  INVALID_TRACEID,
  INVALID_SPANID,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Span,
  type Attributes,
  type Context,
  type Link,
  type Tracer,
  type SpanContext,
} from '@opentelemetry/api'
import {
  NodeTracerProvider,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  AlwaysOnSampler,
  AlwaysOffSampler,
  type SpanProcessor,
  type Sampler,
} from '@opentelemetry/sdk-trace-node'
import { suppressTracing, isTracingSuppressed } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { recentTracesProcessor, type RecentTraces, type SpanRecord } from './recent-traces.ts'
import { recentSampler } from './recent-sampler.ts'
import { decider, type Decider } from './new-traces.ts'

export { SpanKind, SpanStatusCode, type Span, type Context }

interface Tracing {
  readonly provider: NodeTracerProvider
  /** The process's own name (`gateway`, or the service served alone): its spans are the main provider's (OTEL_SERVICE_NAME renames it). */
  readonly processName: string
  readonly sampler: Sampler
  /** Makes a new trace's first span itself when the sampler would not record it (new-traces.ts). */
  readonly decider: Decider
  readonly processors: SpanProcessor[]
  /** One provider per service, made on its first span; only when exporting (else one shared no-op). */
  readonly services: Map<string, Tracer>
  /** The last traces of this process, kept for the operator console (RECENT_TRACES; absent when 0). */
  readonly recent?: RecentTraces
}

let tracing: Tracing | undefined

/** Nodes of this process using tracing (tests run several): the last one to stop ends it. */
let users = 0

/** Sets up the process's tracing (once for all its nodes). Returns a function that flushes it, and ends it after the last node. */
export function initTracing(processName: string, env: NodeJS.ProcessEnv = process.env): () => Promise<void> {
  if (!tracing) {
    const endpoint =
      env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
      (env.OTEL_EXPORTER_OTLP_ENDPOINT && `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`)
    const exporting = Boolean(endpoint) && env.OTEL_SDK_DISABLED !== 'true'
    const kept = env.OTEL_SDK_DISABLED === 'true' ? 0 : Number(env.RECENT_TRACES ?? DEFAULT_RECENT_TRACES)
    const recent = kept > 0 ? recentTracesProcessor(kept) : undefined
    const decides = decider(
      recent
        ? recentSampler({
            perSecond: Number(env.RECENT_TRACES_PER_SECOND ?? DEFAULT_RECENT_TRACES_PER_SECOND),
            exporting,
          })
        : new ParentBasedSampler({ root: exporting ? new AlwaysOnSampler() : new AlwaysOffSampler() }),
    )
    const { sampler } = decides
    // The URL from `env` (which may not be process.env); the exporter reads its other settings itself.
    const processors: SpanProcessor[] = exporting
      ? [new BatchSpanProcessor(new (otlpExporter())({ url: endpoint || undefined }))]
      : []
    if (recent) processors.push(recent)
    const provider = new NodeTracerProvider({
      resource: resource(env.OTEL_SERVICE_NAME ?? processName),
      sampler,
      spanProcessors: processors,
    })
    provider.register()
    tracing = {
      provider,
      processName,
      sampler,
      decider: decides,
      processors,
      services: new Map(),
      ...(recent ? { recent } : {}),
    }
  }
  users++
  const { provider } = tracing
  let stopped = false
  return async () => {
    if (stopped) return
    stopped = true
    await provider.forceFlush()
    if (--users > 0) return
    await provider.shutdown()
    trace.disable()
    context.disable()
    propagation.disable()
    tracing = undefined
  }
}

/** The OTLP exporter (and the protobuf code it brings) is loaded only by a process that exports. */
function otlpExporter(): typeof import('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter {
  const load = createRequire(import.meta.url) as (
    id: string,
  ) => typeof import('@opentelemetry/exporter-trace-otlp-http')
  return load('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter
}

const resource = (name: string) =>
  resourceFromAttributes({ 'service.name': name, 'service.namespace': 'mosaic', 'process.pid': process.pid })

/** Traces kept by default for the operator console (RECENT_TRACES). */
export const DEFAULT_RECENT_TRACES = 100

/** New traces the console's ring takes per second by default (RECENT_TRACES_PER_SECOND). */
export const DEFAULT_RECENT_TRACES_PER_SECOND = 10

/** This process's recent spans (all kept, or one trace's); empty when RECENT_TRACES is 0. */
export function recentSpans(traceId?: string): SpanRecord[] {
  return tracing?.recent?.spans(traceId) ?? []
}

/** Sends the spans ended so far (tests, before reading a receiver). */
export async function flushTracing(): Promise<void> {
  await tracing?.provider.forceFlush()
}

const SERVICE = createContextKey('mosaic service')

function tracerOf(service: string | undefined): Tracer {
  if (!service || !tracing || tracing.processors.length === 0 || service === tracing.processName)
    return trace.getTracer('mosaic')
  let tracer = tracing.services.get(service)
  if (!tracer) {
    // Providers share the processors: the exporter batches spans of every service together, and
    // OTLP groups them by resource. Shutting the main provider down ends the shared processors.
    const provider = new BasicTracerProvider({
      resource: resource(service),
      sampler: tracing.sampler,
      spanProcessors: tracing.processors,
    })
    tracing.services.set(service, (tracer = provider.getTracer('mosaic')))
  }
  return tracer
}

/** Runs `fn` as the code of `service`: spans made inside name it as their service. */
export function inService<T>(service: string, fn: () => T): T {
  return context.with(context.active().setValue(SERVICE, service), fn)
}

export function currentService(): string | undefined {
  return context.active().getValue(SERVICE) as string | undefined
}

export interface SpanOptions {
  readonly kind?: SpanKind
  readonly attributes?: Attributes
  /** Parent context, e.g. extracted from an incoming `traceparent`; defaults to the active one. */
  readonly parent?: Context
  readonly links?: Link[]
  /** The service the span belongs to; defaults to the one the active context is in. */
  readonly service?: string
}

const valid = (ctx: SpanContext | undefined): ctx is SpanContext => ctx !== undefined && trace.isSpanContextValid(ctx)

/**
 * `valid` for a span context already in a context here: its ids were checked where they came in
 * (the propagator checks a `traceparent`) or made well-formed here, so only the all-zero invalid
 * ones remain to rule out, without the API's two regular expressions (for every span, every request).
 */
const live = (ctx: SpanContext | undefined): ctx is SpanContext =>
  ctx !== undefined && ctx.traceId !== INVALID_TRACEID && ctx.spanId !== INVALID_SPANID

/**
 * The last context `inServiceOf` made, from what: a server's requests all start from the same
 * context in the same service, and setting a value copies the context's whole map.
 */
let madeInService: { readonly base: Context; readonly service: string; readonly made: Context } | undefined

function inServiceOf(base: Context, service: string): Context {
  if (madeInService?.base !== base || madeInService.service !== service)
    madeInService = { base, service, made: base.setValue(SERVICE, service) }
  return madeInService.made
}

function begin(name: string, options: SpanOptions): { span: Span; context: Context } {
  const base = options.parent ?? context.active()
  const service = options.service ?? (base.getValue(SERVICE) as string | undefined)
  const parent = service ? inServiceOf(base, service) : base
  // Under a local parent that is not sampled the sampler records nothing (ParentBasedSampler), so
  // the parent's own context stands in: no ids, sampler call nor span object per operation of a
  // request the console and the exporter both pass over (most of them under load).
  const inherited = trace.getSpanContext(parent)
  if (inherited && !inherited.isRemote && (inherited.traceFlags & TraceFlags.SAMPLED) === 0 && live(inherited))
    return { span: trace.wrapSpanContext(inherited), context: parent }
  const kind = options.kind ?? SpanKind.INTERNAL
  // A new trace that the sampler does not record: no SDK span either (new-traces.ts).
  const unrecorded =
    inherited === undefined && tracing && !isTracingSuppressed(parent)
      ? tracing.decider.unrecordedRoot(parent, name, kind, options.attributes, options.links)
      : undefined
  const span =
    unrecorded ??
    tracerOf(service).startSpan(name, { kind, attributes: options.attributes, links: options.links }, parent)
  return { span, context: trace.setSpan(parent, span) }
}

/** Runs `fn` inside a new active span; an exception marks the span as failed and is rethrown. */
export function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const { span, context: ctx } = begin(name, options)
  return context.with(ctx, async () => {
    try {
      return await fn(span)
    } catch (error) {
      // A server's refusal (4xx) is the caller's failure, not the server's (OpenTelemetry's rule).
      const status = (error as { status?: unknown })?.status
      if (options.kind !== SpanKind.SERVER || typeof status !== 'number' || status >= 500) failed(span, error)
      throw error
    } finally {
      span.end()
    }
  })
}

export function failed(span: Span, error: unknown): void {
  span.recordException(error as Error)
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message })
}

/**
 * Runs `fn` in `ctx` as the code of `service`, as a server would: under a server span of its own
 * (`name`) unless `ctx` is already the service's, as on the service's own server. One context
 * switch either way: the embedded gateway's in-process routes enter the request's context and the
 * service's span at once (two switches were some 2 % of a cached read).
 */
export function serveAs<T>(ctx: Context, service: string, name: string, fn: () => Promise<T>): Promise<T> {
  if (ctx.getValue(SERVICE) === service) return context.with(ctx, fn)
  return withSpan(name, { kind: SpanKind.SERVER, service, parent: ctx }, fn)
}

/** Starts a span that the caller ends (for HTTP requests, whose end is an event, not a return). */
export function startSpan(name: string, options: SpanOptions): { span: Span; context: Context } {
  return begin(name, options)
}

/** Whether a span (recording or not) is active: work that belongs to a trace. */
export function inSpan(): boolean {
  return valid(trace.getActiveSpan()?.spanContext())
}

/** Whether the active span is recorded (exported): spans made under one that is not would not be either. */
export function recording(): boolean {
  return trace.getActiveSpan()?.isRecording() ?? false
}

export function currentTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext()
  return valid(ctx) ? ctx.traceId : undefined
}

/** The W3C `traceparent` (and `tracestate`) of the active span, or of `ctx`, for an outgoing request or event. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagation.inject(ctx, carrier)
  return carrier
}

export function contextFrom(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers)
}

/** A link to the span context in `headers` (`traceparent`), if it holds a valid one. */
export function linkFrom(headers: Record<string, string | string[] | undefined>): Link[] {
  // Most requests carry none: no extraction (a context and the composite propagator's walk) for them.
  if (headers.traceparent === undefined) return []
  const linked = trace.getSpanContext(propagation.extract(context.active(), headers))
  return valid(linked) ? [{ context: linked }] : []
}

/**
 * Marks an in-process request (the web pages' calls to the API through `app.inject`) as made for an
 * untraced one: the trace context does not reach the injected request (Fastify queues it), so the
 * header carries the decision. Its value is random per process, so a client cannot send it.
 */
export const UNTRACED_HEADER = 'x-mosaic-untraced'
export const UNTRACED_TOKEN = randomBytes(16).toString('hex')

/** A span that is not recorded nor propagated, for requests not worth a trace (health, metrics): nothing inside is traced. */
export function untraced(): { span: Span; context: Context } {
  const span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
  return { span, context: suppressTracing(trace.setSpan(context.active(), span)) }
}

/** Whether `span` is one of `untraced()`'s (a request not worth a trace). */
export function isUntraced(span: Span): boolean {
  return !trace.isSpanContextValid(span.spanContext())
}

/**
 * W3C Trace Context's `traceparent` of `span` (Level 2's `traceresponse` carries the same), or
 * undefined for an untraced one. Written out rather than through the propagation API, which
 * allocates a carrier and walks the composite propagator (baggage too) for every response.
 */
export function traceparentOf(span: Span): string | undefined {
  const ctx = span.spanContext()
  if (!live(ctx)) return undefined
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`
}

/** The last context rootContext was asked from, and its answer: a server's requests all start from the same one. */
let rootOf: { readonly active: Context; readonly root: Context } | undefined

/** A context with no span: what a span started in it is the root of a new trace. */
export function rootContext(): Context {
  const active = context.active()
  if (rootOf?.active !== active) rootOf = { active, root: trace.deleteSpan(active) }
  return rootOf.root
}

export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn)
}
