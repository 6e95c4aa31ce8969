// Turns a service definition into a running instance: applies its migrations, builds its
// context (database with outbox publishing, logger, config, clients), registers its events
// with the bus, and exposes `invoke` and `handle` for the HTTP layer and in-process callers.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Logger } from 'pino'
import Type from 'typebox'
import type { Contract, CloudEvent } from '../contract.ts'
import type { Engine, Database } from '../db/database.ts'
import type { Bus, Route } from '../events/bus.ts'
import { startRelay } from '../events/relay.ts'
import type { Worker } from '../worker.ts'
import type { AnyService, ServiceContext, ServiceDb, ServiceTx, Client, CallOptions, RouteInput } from '../service.ts'
import { migrate, type MigrationSource } from '../db/migrations.ts'
import { loadConfig } from '../config.ts'
import { MosaicError } from '../errors.ts'
import { validator } from '../validation.ts'
import { cloudEvent } from '../events/cloudevent.ts'
import { withSpan, inService, SpanKind } from '../telemetry/tracing.ts'
import { tracedSql } from '../telemetry/sql.ts'
import { publishSpan, processSpans } from '../telemetry/messaging.ts'
import { callDuration, trackOutbox, trackDeadLetters, messagingSystem } from '../telemetry/metrics.ts'
import { withinDeadline } from './deadline.ts'
import { callContexts, type RouteRequest } from './call-context.ts'
import type { Transport } from './transport.ts'
import type { Authorizer } from '../authz.ts'
import type { Cache, CacheStore } from '../cache/cache.ts'

export interface Platform {
  readonly engine: (service: string) => Engine
  /**
   * Absent for command-line tools: events their work publishes wait in the outbox for the running
   * system's relay, and no subscription is consumed.
   */
  readonly bus?: Bus
  /** How often an outbox relay looks for events it was not told about (EVENT_POLL_MS). */
  readonly pollMs?: number
  readonly log: Logger
  readonly env: NodeJS.ProcessEnv
  /** Where calls to `service` go: an instance in this process, or a URL. */
  readonly transport: (service: string) => Transport
  /** Time allowed for a call when the caller sets none (CALL_TIMEOUT_MS). */
  readonly callTimeoutMs: number
  readonly authorizer: Authorizer
  readonly cache: CacheStore
}

export interface ServiceInstance {
  readonly name: string
  readonly contract: Contract
  readonly context: ServiceContext
  /** Runs an action: input validated, deadline enforced. */
  invoke(action: string, input: unknown, deadline: number): Promise<unknown>
  /** Runs a route handler for already-validated input. */
  handle(route: string, input: RouteInput<never>, deadline: number, request: RouteRequest): Promise<unknown>
  /** Stops the outbox relay and the service's own loops; events not yet relayed stay in the outbox. */
  stop(): Promise<void>
}

const kitMigrations = { owner: 'kit', dir: new URL('../events/migrations/', import.meta.url) }

/** What a service's schema is migrated with: the kit's tables (outbox, inbox), then its own. */
export function migrationSourcesOf(definition: AnyService): MigrationSource[] {
  const dir = definition.implementation.migrations
  return dir ? [kitMigrations, { owner: definition.contract.name, dir }] : [kitMigrations]
}

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
  if (open)
    throw new MosaicError('internal', {
      detail: `${what} inside a transaction of ${open}: use the transaction's tx, and call other services before or after it`,
    })
}

function serviceDb(
  raw: Database,
  service: string,
  contract: Contract,
  system: string,
  published: () => void,
  cache: Cache,
): ServiceDb {
  const attributes = { 'db.system.name': 'postgresql', 'db.namespace': raw.schema }
  const db = tracedSql(raw, service, raw.schema)
  return {
    query: (text, params) => {
      outsideTransaction(`${service}: db.query`)
      return db.query(text, params)
    },
    exec: (script) => {
      outsideTransaction(`${service}: db.exec`)
      return raw.exec(script)
    },
    transaction: (fn) => {
      outsideTransaction(`${service}: db.transaction`)
      return withSpan(`${service} transaction`, { kind: SpanKind.CLIENT, service, attributes }, async () => {
        let publishes = 0
        const stale: string[] = []
        const result = await raw.transaction((rawTx) => {
          const tx = tracedSql(rawTx, service, raw.schema)
          const serviceTx: ServiceTx = {
            ...tx,
            async publish(type, data, options = {}) {
              const schema = contract.events[type]
              if (!schema) throw new MosaicError('internal', { detail: `${service} does not declare event ${type}` })
              if (!validator(schema).check(data))
                throw new MosaicError('internal', { detail: `event ${type} does not match its schema` })
              // The event carries the context of its own publish span (see messaging.ts).
              const event = await publishSpan(service, system, type, async () => {
                const event = cloudEvent(service, type, data, options.subject)
                await tx.query('insert into mosaic_outbox (id, type, event) values ($1, $2, $3)', [
                  event.id,
                  type,
                  event,
                ])
                return event
              })
              publishes++
              return event as never
            },
            invalidate: (...tags) => {
              stale.push(...tags)
            },
          }
          return openTransaction.run(service, () => fn(serviceTx as never))
        })
        // After the commit, never before: a reader in between would load the old row and keep it.
        cache.invalidate(stale)
        if (publishes > 0) published()
        return result
      })
    },
  }
}

export function makeClient<D extends Contract>(
  contract: D,
  platform: Platform,
  caller: string,
  parentDeadline?: number,
): Client<D> {
  const client: Record<string, (input: unknown, options?: CallOptions) => Promise<unknown>> = {}
  for (const [action, spec] of Object.entries(contract.actions)) {
    const output = validator(spec.output, { code: 'bad_gateway' })
    const attributes = { 'rpc.system': 'mosaic', 'rpc.service': contract.name, 'rpc.method': action }
    client[action] = (input, options = {}) =>
      withSpan(`${contract.name}/${action}`, { kind: SpanKind.CLIENT, service: caller, attributes }, async () => {
        const started = performance.now()
        let outcome = 'ok'
        try {
          outsideTransaction(`${caller}: call to ${contract.name}.${action}`)
          const deadline = Math.min(
            parentDeadline ?? Infinity,
            Date.now() + (options.timeoutMs ?? platform.callTimeoutMs),
          )
          return output.parse(
            await platform.transport(contract.name).invoke(action, input, deadline, caller, spec.idempotent),
          )
        } catch (error) {
          outcome = error instanceof MosaicError ? error.code : 'error'
          throw error
        } finally {
          callDuration.observe(
            { service: caller, rpc_service: contract.name, rpc_method: action, outcome, rpc_system: 'mosaic' },
            (performance.now() - started) / 1000,
          )
        }
      })
  }
  return client as Client<D>
}

/** The routes of the event graph that `definition` consumes. */
export function routesOf(definition: AnyService): Route[] {
  const consumer: string = definition.contract.name
  return (definition.implementation.subscriptions ?? []).map((s) => ({
    id: `${consumer}/${s.name}`,
    consumer,
    source: s.source,
    type: s.type,
  }))
}

export async function startService(definition: AnyService, platform: Platform): Promise<ServiceInstance> {
  const contract: Contract = definition.contract
  const implementation = definition.implementation
  const name = contract.name
  const schema = schemaOf(name)
  const log = platform.log.child({ service: name })
  const config = loadConfig(implementation.config ?? Type.Object({}), platform.env)
  const engine = platform.engine(name)
  const applied = await migrate(engine, schema, migrationSourcesOf(definition))
  if (applied.length > 0) log.info({ applied }, 'migrations applied')
  const raw = engine.forSchema(schema)
  const bus = platform.bus
  let relay: Worker | undefined // started once the service has
  const system = messagingSystem(bus)
  const cache = platform.cache.forService(name)
  const db = serviceDb(raw, name, contract, system, () => relay?.notify(), cache)

  // `state` is set once `start` returns; a call's context reads it through its prototype, so
  // handlers registered before it (subscriptions) see it too.
  const context: { -readonly [K in keyof ServiceContext]: ServiceContext[K] } = {
    name,
    db,
    log,
    config,
    client: (c) => makeClient(c, platform, name),
    authorize: platform.authorizer.authorize,
    cache,
    state: undefined,
  }
  const contexts = callContexts(context, (c, deadline) => makeClient(c, platform, name, deadline))
  const callContext = contexts.call

  const count = (table: string) => async (): Promise<number> =>
    Number((await raw.query<{ n: bigint }>(`select count(*) as n from ${table}`))[0]!.n)
  trackOutbox(name, count('mosaic_outbox'))
  trackDeadLetters(name, count('mosaic_dead_letters'))
  const handlers = new Map((implementation.subscriptions ?? []).map((s) => [`${name}/${s.name}`, s]))
  for (const route of bus ? routesOf(definition) : []) {
    const { handler, batchHandler } = handlers.get(route.id)!
    await bus!.subscribe({
      ...route,
      // One transaction for the batch: the inbox rows first (those already there are repeats, and
      // skipped), then each new event's effect, in order.
      handle: (events) =>
        processSpans({ service: name, system, subscription: route.id }, events, (each) =>
          db.transaction(async (tx) => {
            const fresh = new Set(
              (
                await tx.query<{ event_id: string }>(
                  'insert into mosaic_inbox (subscription, event_id) select $1, unnest($2::text[]) on conflict do nothing returning event_id',
                  [route.id, events.map((e) => e.id)],
                )
              ).map((r) => r.event_id),
            )
            const effects = fresh.size
            // delete: an event can come twice in one batch (a redelivery caught up with the first delivery).
            const todo = events.filter((event) => fresh.delete(event.id))
            if (batchHandler && todo.length > 0)
              await batchHandler(todo, tx, callContext(Date.now() + platform.callTimeoutMs))
            else
              for (const event of todo)
                await each(event, () => handler(event, tx, callContext(Date.now() + platform.callTimeoutMs)))
            return effects
          }),
        ),
      deadLetter: async (event: CloudEvent, attempts: number, error: string) => {
        await raw.query(
          'insert into mosaic_dead_letters (subscription, event, attempts, error) values ($1, $2, $3, $4)',
          [route.id, event, attempts, error],
        )
      },
    })
  }

  const inputs = new Map(Object.entries(contract.actions).map(([action, spec]) => [action, validator(spec.input)]))
  // The service's own loops (a saga runner, a mail sender) run as the service: their spans name it.
  context.state = await inService(name, () => implementation.start?.(context as never))
  // Every commit that writes the outbox wakes the relay, so its poll only finds what a failed cycle
  // left. On PGlite no other process writes this outbox: polling 20 times less often spares the
  // event loop some 28 statements a second across the services (embedded) for nothing.
  const pollMs = (platform.pollMs ?? 250) * (engine.kind === 'pglite' ? 20 : 1)
  if (bus) relay = startRelay({ service: name, schema, engine, bus, log, pollMs })
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
      const ctx = contexts.route(deadline, request)
      return withinDeadline(deadline, () => implementation.routes[route]!(input as never, ctx as never))
    },
    async stop() {
      await relay?.stop()
      await implementation.stop?.(context as never)
    },
  }
}
