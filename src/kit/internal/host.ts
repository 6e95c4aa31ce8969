// Turns a service definition into a running instance: applies its migrations, builds its
// context (database with outbox publishing, logger, config, clients), registers its events
// with the bus, and exposes `invoke` and `handle` for the HTTP layer and in-process callers.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Logger } from 'pino'
import Type from 'typebox'
import type { Contract, CloudEvent } from '../contract.ts'
import type { Engine, Database } from '../db/database.ts'
import type { Bus } from '../events/bus.ts'
import type {
  AnyService, ServiceContext, CallContext, RouteContext, ServiceDb, ServiceTx, Client, CallOptions, RouteInput,
} from '../service.ts'
import { migrate } from '../db/migrations.ts'
import { loadConfig } from '../config.ts'
import { MosaicError } from '../errors.ts'
import { validator } from '../validation.ts'
import { cloudEvent } from '../events/cloudevent.ts'
import { withSpan, SpanKind, contextFrom } from '../telemetry/tracing.ts'
import { callDuration, trackOutbox } from '../telemetry/metrics.ts'
import { withinDeadline, lazySignal } from './deadline.ts'
import type { Transport } from './transport.ts'
import type { Authorizer } from '../authz.ts'
import type { Caller } from '../identity.ts'
import type { Cache, CacheStore } from '../cache/cache.ts'

export interface Platform {
  readonly engine: (service: string) => Engine
  readonly bus: Bus
  readonly log: Logger
  readonly env: NodeJS.ProcessEnv
  /** Where calls to `service` go: an instance in this process, or a URL. */
  readonly transport: (service: string) => Transport
  /** Time allowed for a call when the caller sets none (CALL_TIMEOUT_MS). */
  readonly callTimeoutMs: number
  readonly authorizer: Authorizer
  readonly cache: CacheStore
}

/** What the HTTP layer knows about a request besides its input. */
export interface RouteRequest extends Caller {
  setHeader(name: string, value: string): void
  /** Absent for callers that are not HTTP (tests driving a handler): the route's own status stands. */
  setStatus?(status: number): void
}

export interface ServiceInstance {
  readonly name: string
  readonly contract: Contract
  readonly context: ServiceContext
  /** Runs an action: input validated, deadline enforced. */
  invoke(action: string, input: unknown, deadline: number): Promise<unknown>
  /** Runs a route handler for already-validated input. */
  handle(route: string, input: RouteInput<never>, deadline: number, request: RouteRequest): Promise<unknown>
  stop(): Promise<void>
}

const kitMigrations = { owner: 'kit', dir: new URL('../events/migrations/', import.meta.url) }

/** `order-history` → schema `order_history`. */
export function schemaOf(service: string): string {
  return service.replace(/-/g, '_')
}

/**
 * The transaction open in the current async context, if any. Database work started inside a
 * transaction must go through its `tx`: on PGlite (one connection) anything else waits for the
 * transaction to end and never runs, and on PostgreSQL it would escape the transaction. That
 * includes calls to other services, which should not run while a transaction holds locks anyway.
 */
const openTransaction = new AsyncLocalStorage<string>()

function outsideTransaction(what: string): void {
  const open = openTransaction.getStore()
  if (open) throw new MosaicError('internal', { detail: `${what} inside a transaction of ${open}: use the transaction's tx, and call other services before or after it` })
}

function serviceDb(raw: Database, service: string, contract: Contract, published: () => void, cache: Cache): ServiceDb {
  const attributes = { 'db.system.name': 'postgresql', 'db.namespace': raw.schema }
  return {
    query: (text, params) => { outsideTransaction(`${service}: db.query`); return raw.query(text, params) },
    exec: (script) => { outsideTransaction(`${service}: db.exec`); return raw.exec(script) },
    transaction: (fn) => { outsideTransaction(`${service}: db.transaction`); return withSpan(`${service} transaction`, { kind: SpanKind.CLIENT, attributes }, async () => {
      let publishes = 0
      const stale: string[] = []
      const result = await raw.transaction((tx) => {
        const serviceTx: ServiceTx = {
          ...tx,
          async publish(type, data, options = {}) {
            const schema = contract.events[type]
            if (!schema) throw new MosaicError('internal', { detail: `${service} does not declare event ${type}` })
            if (!validator(schema).check(data)) throw new MosaicError('internal', { detail: `event ${type} does not match its schema` })
            const event = cloudEvent(service, type, data, options.subject)
            await tx.query('insert into mosaic_outbox (id, type, event) values ($1, $2, $3)', [event.id, type, event])
            publishes++
            return event as never
          },
          invalidate: (...tags) => { stale.push(...tags) },
        }
        return openTransaction.run(service, () => fn(serviceTx as never))
      })
      // After the commit, never before: a reader in between would load the old row and keep it.
      cache.invalidate(stale)
      if (publishes > 0) published()
      return result
    }) },
  }
}

export function makeClient<D extends Contract>(contract: D, platform: Platform, caller: string, parentDeadline?: number): Client<D> {
  const client: Record<string, (input: unknown, options?: CallOptions) => Promise<unknown>> = {}
  for (const [action, spec] of Object.entries(contract.actions)) {
    const output = validator(spec.output, { code: 'bad_gateway' })
    const attributes = { 'rpc.system': 'mosaic', 'rpc.service': contract.name, 'rpc.method': action }
    client[action] = (input, options = {}) => withSpan(`${contract.name}/${action}`, { kind: SpanKind.CLIENT, attributes }, async () => {
      const started = performance.now()
      let outcome = 'ok'
      try {
        outsideTransaction(`${caller}: call to ${contract.name}.${action}`)
        const deadline = Math.min(parentDeadline ?? Infinity, Date.now() + (options.timeoutMs ?? platform.callTimeoutMs))
        return output.parse(await platform.transport(contract.name).invoke(action, input, deadline, caller))
      } catch (error) {
        outcome = error instanceof MosaicError ? error.code : 'error'
        throw error
      } finally {
        callDuration.observe({ service: caller, rpc_service: contract.name, rpc_method: action, outcome }, (performance.now() - started) / 1000)
      }
    })
  }
  return client as Client<D>
}

export async function startService(definition: AnyService, platform: Platform): Promise<ServiceInstance> {
  const contract: Contract = definition.contract
  const implementation = definition.implementation
  const name = contract.name
  const schema = schemaOf(name)
  const log = platform.log.child({ service: name })
  const config = loadConfig(implementation.config ?? Type.Object({}), platform.env)
  const engine = platform.engine(name)
  const applied = await migrate(engine, schema, implementation.migrations ? [kitMigrations, { owner: name, dir: implementation.migrations }] : [kitMigrations])
  if (applied.length > 0) log.info({ applied }, 'migrations applied')
  const raw = engine.forSchema(schema)
  const cache = platform.cache.forService(name)
  const db = serviceDb(raw, name, contract, () => platform.bus.notify(), cache)

  const context: ServiceContext = { name, db, log, config, client: (c) => makeClient(c, platform, name), authorize: platform.authorizer.authorize, cache }
  const callContext = <X extends object>(deadline: number, extra?: X): CallContext & X => {
    const signal = lazySignal(deadline)
    return { ...context, ...extra as X, deadline, get signal() { return signal() }, client: (c) => makeClient(c, platform, name, deadline) }
  }

  platform.bus.addProducer(schema)
  trackOutbox(name, async () => Number((await raw.query<{ n: bigint }>('select count(*) as n from mosaic_outbox'))[0]!.n))
  for (const subscription of implementation.subscriptions ?? []) {
    const id = `${name}/${subscription.name}`
    platform.bus.subscribe({
      id,
      consumer: schema,
      source: schemaOf(subscription.source),
      type: subscription.type,
      handle: (event: CloudEvent) => withSpan(`${event.type} process`, {
        kind: SpanKind.CONSUMER,
        parent: contextFrom({ traceparent: event.traceparent, tracestate: event.tracestate }),
        attributes: { 'messaging.system': 'mosaic', 'messaging.message.id': event.id, 'messaging.consumer.group.name': id },
      }, () => db.transaction(async (tx) => {
        const fresh = await tx.query('insert into mosaic_inbox (subscription, event_id) values ($1, $2) on conflict do nothing returning event_id', [id, event.id])
        if (fresh.length === 0) return 'duplicate' as const
        await subscription.handler(event, tx, callContext(Date.now() + platform.callTimeoutMs))
        return 'handled' as const
      })),
    })
  }

  const inputs = new Map(Object.entries(contract.actions).map(([action, spec]) => [action, validator(spec.input)]))
  await implementation.start?.(context as never)
  log.debug('started')

  return {
    name,
    contract,
    context,
    // async: invalid input rejects like any other failure rather than throwing at the caller.
    async invoke(action, input, deadline) {
      const handler = implementation.actions[action]
      const validate = inputs.get(action)
      if (!handler || !validate) throw new MosaicError('not_found', { detail: `${name} has no action ${action}` })
      const valid = validate.parse(input)
      return withinDeadline(deadline, () => handler(valid as never, callContext(deadline) as never))
    },
    handle(route, input, deadline, request) {
      const ctx: RouteContext = callContext(deadline, { setStatus: () => {}, ...request })
      return withinDeadline(deadline, () => implementation.routes[route]!(input as never, ctx as never))
    },
    async stop() {
      await implementation.stop?.(context as never)
    },
  }
}
