// What a service author writes: `defineService(contract, implementation)`. The implementation
// binds a handler to every route and action of the contract (the compiler checks none is
// missing), lists its subscriptions, migrations and configuration, and optional start/stop hooks.
// What `start` returns is the instance's state (its job loops, pools, storage): handlers reach it
// as `ctx.state`, typed, and `stop` gets it back to end them.
import type { TObject, TProperties, Static } from 'typebox'
import type { Logger } from 'pino'
import type {
  Contract,
  RouteSpec,
  ActionSpec,
  CloudEvent,
  EventData,
  RouteParams,
  RouteQuery,
  RouteBody,
  RouteResponse,
  ActionInput,
  ActionOutput,
} from './contract.ts'
import type { Sql } from './db/database.ts'
import type { Authorizer } from './authz.ts'
import type { Caller } from './identity.ts'
import type { Cache } from './cache/cache.ts'

export interface PublishOptions {
  /** CloudEvents `subject`: the id of the thing the event is about. */
  readonly subject?: string
}

/** A transaction of the service's own database that can also publish events (into its outbox). */
export interface ServiceTx<C extends Contract = Contract> extends Sql {
  publish<K extends keyof C['events'] & string>(
    type: K,
    data: EventData<C, K>,
    options?: PublishOptions,
  ): Promise<CloudEvent<EventData<C, K>>>
  /** Cache tags this change makes stale: dropped from `ctx.cache` once the transaction commits, in every process. */
  invalidate(...tags: string[]): void
}

export interface ServiceDb<C extends Contract = Contract> extends Sql {
  transaction<T>(fn: (tx: ServiceTx<C>) => Promise<T>): Promise<T>
}

export interface CallOptions {
  /** Time allowed for this call; the caller's own deadline still applies if sooner. */
  readonly timeoutMs?: number
}

/** A typed client for another service's actions: `await ctx.client(catalog).reserveStock(input)`. */
export type Client<D extends Contract> = {
  readonly [K in keyof D['actions']]: (
    input: ActionInput<D['actions'][K]>,
    options?: CallOptions,
  ) => Promise<ActionOutput<D['actions'][K]>>
}

export interface ServiceContext<C extends Contract = Contract, Cfg = unknown, S = unknown> {
  readonly name: string
  readonly db: ServiceDb<C>
  readonly log: Logger
  readonly config: Cfg
  /** A client for another service; its contract is all this service may import of it. */
  client<D extends Contract>(contract: D): Client<D>
  /** Asks the Cedar policies (policies/*.cedar) whether `principal` may do `action` on `resource`. */
  readonly authorize: Authorizer['authorize']
  /** What this instance's `start` returned (undefined while it runs): one per running instance, never shared. */
  readonly state: S
  /** A read cache of this service's own data; its transactions invalidate it (`tx.invalidate`). */
  readonly cache: Cache
}

/** The context of one request, action call or event: the service context plus a deadline. */
export interface CallContext<C extends Contract = Contract, Cfg = unknown, S = unknown>
  extends ServiceContext<C, Cfg, S> {
  /** Epoch milliseconds by which the work must be done; calls made from here inherit it. */
  readonly deadline: number
  readonly signal: AbortSignal
}

/** A public request: the call context plus who is calling (verified by the gateway). */
export interface RouteContext<C extends Contract = Contract, Cfg = unknown, S = unknown>
  extends CallContext<C, Cfg, S>,
    Caller {
  setHeader(name: string, value: string): void
  /**
   * The answer's status when it is not the route's declared one: 206 for a range, 304 when the
   * client's copy is current (sent without a body). Errors are thrown, never set here.
   */
  setStatus(status: 200 | 201 | 202 | 204 | 206 | 304): void
}

export interface RouteInput<R extends RouteSpec> {
  readonly params: RouteParams<R>
  readonly query: RouteQuery<R>
  /** Parsed and validated JSON; for a route that declares `stream`, the request itself, unread. */
  readonly body: RouteBody<R>
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

export type RouteHandler<R extends RouteSpec, C extends Contract, Cfg, S = unknown> = (
  input: RouteInput<R>,
  ctx: RouteContext<C, Cfg, S>,
) => Promise<RouteResponse<R>>

export type ActionHandler<A extends ActionSpec, C extends Contract, Cfg, S = unknown> = (
  input: ActionInput<A>,
  ctx: CallContext<C, Cfg, S>,
) => Promise<ActionOutput<A>>

export interface Subscription {
  /** Stable name of this consumer within the service; the inbox and dead letters are keyed by it. */
  readonly name: string
  readonly source: string
  readonly type: string
  readonly handler: (event: CloudEvent, tx: ServiceTx, ctx: CallContext) => Promise<void>
  /**
   * When given, used instead of `handler`: the events of a batch not handled before, in order, in
   * one call (one multi-row statement rather than one per event).
   */
  readonly batchHandler?: (events: readonly CloudEvent[], tx: ServiceTx, ctx: CallContext) => Promise<void>
}

/** Subscribes to another service's event; the handler runs in a transaction with the inbox record. */
export function on<P extends Contract, K extends keyof P['events'] & string>(
  producer: P,
  type: K,
  handler: (event: CloudEvent<EventData<P, K>>, tx: ServiceTx, ctx: CallContext) => Promise<void>,
  options: { name?: string } = {},
): Subscription {
  return {
    name: options.name ?? `${producer.name}.${type}`,
    source: producer.name,
    type,
    handler: handler as Subscription['handler'],
  }
}

/** Like `on`, for a handler that takes the batch's new events at once; each of them still takes effect once. */
export function onBatch<P extends Contract, K extends keyof P['events'] & string>(
  producer: P,
  type: K,
  handler: (events: readonly CloudEvent<EventData<P, K>>[], tx: ServiceTx, ctx: CallContext) => Promise<void>,
  options: { name?: string } = {},
): Subscription {
  const batchHandler = handler as NonNullable<Subscription['batchHandler']>
  return {
    ...on(producer, type, (event, tx, ctx) => batchHandler([event], tx, ctx), options),
    batchHandler,
  }
}

export interface ServiceImplementation<C extends Contract, Cfg extends TProperties, S = undefined> {
  /** Folder of NNN_description.sql files, applied in order to the service's own schema. */
  readonly migrations?: URL
  /** Environment variables this service reads, validated at start. */
  readonly config?: TObject<Cfg>
  /**
   * After migrations, before traffic: seed data, warm caches, start job loops. What it returns is
   * the instance's state, `ctx.state` in handlers and in `stop`. Write it before `routes` and
   * `actions`: their `ctx.state` takes its type from here.
   */
  readonly start?: (ctx: ServiceContext<C, Static<TObject<Cfg>>, undefined>) => Promise<S>
  readonly stop?: (ctx: ServiceContext<C, Static<TObject<Cfg>>, S>) => Promise<void>
  readonly routes: { readonly [K in keyof C['routes']]: RouteHandler<C['routes'][K], C, Static<TObject<Cfg>>, S> }
  readonly actions: { readonly [K in keyof C['actions']]: ActionHandler<C['actions'][K], C, Static<TObject<Cfg>>, S> }
  readonly subscriptions?: readonly Subscription[]
}

export interface ServiceDefinition<C extends Contract = Contract, Cfg extends TProperties = TProperties, S = unknown> {
  readonly contract: C
  readonly implementation: ServiceImplementation<C, Cfg, S>
}

/** A service with its own types erased: what the runtime holds, knowing only contracts. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- handler parameter types are contravariant; only `any` erases them
export type AnyService = ServiceDefinition<any, any, any>

export function defineService<C extends Contract, Cfg extends TProperties = Record<never, never>, S = undefined>(
  contract: C,
  implementation: ServiceImplementation<C, Cfg, S>,
): ServiceDefinition<C, Cfg, S> {
  return { contract, implementation }
}
