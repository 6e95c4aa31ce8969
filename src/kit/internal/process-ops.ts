// What one process can tell the operator console about itself: the event subscriptions of its
// services (lag, retries, oldest event), their dead letters, a replay of those, and its recent
// spans. The gateway asks its own process directly and every other process over HTTP
// (ops-endpoint.ts); both answer with these same shapes, which the gateway's operator API
// (gateway/ops/contract.ts) passes on.
import Type, { type Static } from 'typebox'
import type { Engine } from '../db/database.ts'
import { ident } from '../db/database.ts'
import type { Bus, Route } from '../events/bus.ts'
import { schemaOf } from './host.ts'
import { recentSpans } from '../telemetry/tracing.ts'
import type { SpanRecord } from '../telemetry/recent-traces.ts'

/** A value or null (JSON has no undefined). */
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()])

export const DeadLetter = Type.Object({
  id: Type.Integer(),
  service: Type.String(),
  subscription: Type.String(),
  type: Type.String(),
  eventId: Type.String(),
  attempts: Type.Integer(),
  error: Type.String(),
  failedAt: Type.String({ format: 'date-time' }),
})
export type DeadLetter = Static<typeof DeadLetter>

export const BusReport = Type.Object({
  kind: Type.String({ description: 'embedded (a queue table) or nats (JetStream: a stream per producer)' }),
  connected: Type.Boolean(),
  subscriptions: Type.Array(
    Type.Object({
      id: Type.String({ description: 'The route, <consumer>/<name>: a durable consumer on NATS' }),
      consumer: Type.String(),
      source: Type.String({ description: 'The producing service (its stream on NATS)' }),
      type: Type.String(),
      lag: Nullable(Type.Integer({ description: 'Events waiting, being retried included' })),
      retrying: Nullable(Type.Integer()),
      oldestSeconds: Nullable(Type.Number()),
    }),
  ),
  deadLetters: Type.Array(Type.Object({ service: Type.String(), count: Type.Integer() })),
  /** The latest dead letters of each service (at most 100 each). */
  letters: Type.Array(DeadLetter),
})

export interface ProcessOps {
  bus(): Promise<Static<typeof BusReport>>
  /** Sends `service`'s dead letters (all, or the ids given) back to their subscriptions; how many. */
  replay(service: string, ids?: readonly number[]): Promise<number>
  spans(traceId?: string): SpanRecord[]
}

/** At most this many dead letters per service are listed (the count says how many there are). */
export const DEAD_LETTERS_LISTED = 100

export interface ProcessOpsOptions {
  readonly bus: Bus
  /** The whole system's event graph. */
  readonly routes: readonly Route[]
  /** The services this process runs. */
  readonly services: readonly string[]
  readonly engineOf: (service: string) => Engine
  readonly replay: (service: string, ids?: readonly number[]) => Promise<number>
}

async function deadLetters(engine: Engine, service: string): Promise<{ count: number; listed: DeadLetter[] }> {
  const table = `${ident(schemaOf(service))}.mosaic_dead_letters`
  const [counted] = await engine.admin.query<{ n: bigint }>(`select count(*) as n from ${table}`)
  const rows = await engine.admin.query<{
    id: bigint
    subscription: string
    type: string
    event_id: string
    attempts: number
    error: string
    failed_at: Date
  }>(
    `select id, subscription, event->>'type' as type, event->>'id' as event_id, attempts, error, failed_at
      from ${table} order by id desc limit ${DEAD_LETTERS_LISTED}`,
  )
  return {
    count: Number(counted!.n),
    listed: rows.map((r) => ({
      id: Number(r.id),
      service,
      subscription: r.subscription,
      type: r.type,
      eventId: r.event_id,
      attempts: r.attempts,
      error: r.error,
      failedAt: r.failed_at.toISOString(),
    })),
  }
}

export function processOps(options: ProcessOpsOptions): ProcessOps {
  const { bus, routes, services } = options
  return {
    async bus() {
      const status = bus.running
        ? await bus.status().catch(() => undefined)
        : { connected: false, lag: {}, retrying: {} }
      const local = routes.filter((r) => services.includes(r.consumer))
      const letters = await Promise.all(services.map((s) => deadLetters(options.engineOf(s), s)))
      return {
        kind: bus.kind,
        connected: status?.connected ?? false,
        subscriptions: local.map((r) => ({
          id: r.id,
          consumer: r.consumer,
          source: r.source,
          type: r.type,
          lag: status?.lag[r.id] ?? null,
          retrying: status?.retrying[r.id] ?? null,
          oldestSeconds: status?.oldestSeconds?.[r.id] ?? null,
        })),
        deadLetters: services.map((service, i) => ({ service, count: letters[i]!.count })),
        letters: letters.flatMap((l) => l.listed),
      }
    },
    replay: (service, ids) => {
      if (!services.includes(service)) throw new Error(`${service} does not run in this process`)
      return options.replay(service, ids)
    },
    spans: (traceId) => recentSpans(traceId),
  }
}
