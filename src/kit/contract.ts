// A contract is everything other services and the gateway may know about a service: its public
// routes, its internal actions and its events, each declared once as a TypeBox (JSON Schema)
// value. Types, runtime validation, OpenAPI and typed clients all come from here.
import type { Readable } from 'node:stream'
import type { TSchema, Static } from 'typebox'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface RouteSpec {
  readonly method: HttpMethod
  /** Public path, under `/api/<area>`, with `:param` segments. */
  readonly path: string
  readonly summary: string
  readonly params?: TSchema
  readonly query?: TSchema
  readonly body?: TSchema
  readonly response: TSchema
  /** Success status: 200 unless stated (201 for creation, 204 for no content). */
  readonly status?: 200 | 201 | 202 | 204
  /** Error codes (the kit's or the service's `defineErrors`) this route can answer with, for the API reference. */
  readonly errors?: readonly string[]
  /**
   * Request content types the handler reads itself, as a stream (`['multipart/form-data']` for an
   * upload), instead of a JSON body parsed and held in memory. The handler's `body` is then the
   * request's Node `Readable`, unparsed and unvalidated: BODY_LIMIT does not apply to it, so the
   * handler must enforce its own size limit (only it knows the right one, FILE_MAX_BYTES say).
   */
  readonly stream?: readonly string[]
  /**
   * Content types of a success answer that is not JSON (`['image/png']`, `['text/csv']`): the
   * handler then may return a string, Buffer or Readable after `ctx.setHeader('content-type', ...)`.
   * For the API reference; JSON stays the default.
   */
  readonly produces?: readonly string[]
}

export interface ActionSpec {
  readonly summary: string
  readonly input: TSchema
  readonly output: TSchema
  /** Safe to retry: repeating the call has no second effect. */
  readonly idempotent: boolean
}

export interface Contract {
  readonly name: string
  readonly version: string
  readonly routes: Readonly<Record<string, RouteSpec>>
  readonly actions: Readonly<Record<string, ActionSpec>>
  /** Event type (`product.created`) → schema of the event's `data`. */
  readonly events: Readonly<Record<string, TSchema>>
}

export function defineContract<const C extends Contract>(contract: C): C {
  if (!/^[a-z][a-z0-9-]*$/.test(contract.name))
    throw new Error(`service name ${contract.name} must be lower-case kebab`)
  for (const [key, route] of Object.entries(contract.routes)) {
    if (!route.path.startsWith('/api/')) throw new Error(`${contract.name}.${key}: public routes live under /api/`)
  }
  return contract
}

type StaticOr<T, Fallback> = T extends TSchema ? Static<T> : Fallback

export type RouteParams<R extends RouteSpec> = StaticOr<R['params'], Record<string, never>>
export type RouteQuery<R extends RouteSpec> = StaticOr<R['query'], Record<string, never>>
type Declared<T, Then, Else> = T extends readonly string[] ? Then : Else

export type RouteBody<R extends RouteSpec> = Declared<R['stream'], Readable, StaticOr<R['body'], undefined>>
/** What a handler returns: the response schema's type; raw bytes too for a route that `produces` something else. */
export type RouteResponse<R extends RouteSpec> = Declared<
  R['produces'],
  Static<R['response']> | string | Buffer | Readable,
  Static<R['response']>
>
export type ActionInput<A extends ActionSpec> = Static<A['input']>
export type ActionOutput<A extends ActionSpec> = Static<A['output']>
export type EventData<C extends Contract, K extends keyof C['events']> = Static<C['events'][K]>

/** CloudEvents 1.0 envelope, with the W3C trace context carried as the distributed-tracing extension. */
export interface CloudEvent<T = unknown> {
  readonly specversion: '1.0'
  readonly id: string
  readonly source: string
  readonly type: string
  readonly time: string
  readonly datacontenttype: 'application/json'
  readonly subject?: string
  readonly traceparent?: string
  readonly tracestate?: string
  readonly data: T
}

/** The path prefixes a contract's routes live under (`/api/products`), for mounting and proxying. */
export function routePrefixes(contract: Contract): string[] {
  return [...new Set(Object.values(contract.routes).map((r) => r.path.split('/').slice(0, 3).join('/')))]
}
