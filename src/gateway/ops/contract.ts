// The operator API: what the console (and an operator with curl) sees of the running system,
// under /api/ops, for admins (policies/routes/ops.json). Served by the gateway itself, not by a
// service: it describes the services, their instances and the bus, which no one service knows.
// A contract like a service's so that the route table and the OpenAPI document cover it too.
import Type from 'typebox'
import { defineContract } from '../../kit/contract.ts'
import { SagaList } from '../../services/orders/contract.ts'
import { BusReport, Nullable } from '../../kit/internal/process-ops.ts'

export { BusReport }

export const InstanceReport = Type.Object({
  id: Type.String(),
  url: Type.String(),
  /** In the gateway's own process (embedded), or a process of its own (remote). */
  embedded: Type.Boolean(),
  /** Its /health/ready: pass, warn (degraded), fail, draining or unreachable. */
  health: Type.String(),
  output: Nullable(Type.String()),
  draining: Type.Boolean(),
  breaker: Nullable(
    Type.String({ description: "The gateway's circuit breaker toward this instance (closed, open, half-open)" }),
  ),
  outstanding: Nullable(Type.Integer()),
  /** Breakers this instance holds toward the instances it calls: `<service> <url>` → state. */
  breakers: Type.Record(Type.String(), Type.String()),
})

export const ServicesReport = Type.Object({
  services: Type.Array(Type.Object({ name: Type.String(), instances: Type.Array(InstanceReport) })),
})

export const Span = Type.Object({
  traceId: Type.String(),
  spanId: Type.String(),
  parentSpanId: Type.Optional(Type.String()),
  name: Type.String(),
  service: Type.String(),
  kind: Type.Integer(),
  startMs: Type.Number({ description: 'Epoch milliseconds' }),
  durationMs: Type.Number(),
  error: Type.Boolean(),
  attributes: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
})

export const TraceSummary = Type.Object({
  traceId: Type.String(),
  name: Type.String({ description: 'Its root span (or earliest span kept)' }),
  services: Type.Array(Type.String()),
  startMs: Type.Number(),
  durationMs: Type.Number(),
  spans: Type.Integer(),
  error: Type.Boolean(),
})

export const RouteStats = Type.Object({
  windowSeconds: Type.Number({ description: 'The figures cover this much time, up to now' }),
  routes: Type.Array(
    Type.Object({
      method: Type.String(),
      route: Type.String(),
      service: Type.String(),
      requests: Type.Integer(),
      perSecond: Type.Number(),
      errors: Type.Integer({ description: 'Answers with a 5xx status' }),
      clientErrors: Type.Integer({ description: 'Answers with a 4xx status' }),
      p99Ms: Nullable(
        Type.Number({ description: 'The upper bound of the histogram bucket holding the 99th percentile' }),
      ),
    }),
  ),
})

const ServiceName = Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 63 })

export const opsContract = defineContract({
  name: 'ops',
  version: '1.0.0',
  routes: {
    services: {
      method: 'GET',
      path: '/api/ops/services',
      summary: 'Every service and instance: health, draining, circuit breakers',
      response: ServicesReport,
    },
    bus: {
      method: 'GET',
      path: '/api/ops/bus',
      summary: 'The event bus: each subscription with its lag, and the dead letters of each service',
      response: BusReport,
      errors: ['unavailable'],
    },
    replay: {
      method: 'POST',
      path: '/api/ops/bus/replay',
      summary: "Sends a service's dead letters (all, or those listed) back to the subscriptions that failed them",
      body: Type.Object(
        {
          service: ServiceName,
          ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 1000 })),
        },
        { additionalProperties: false },
      ),
      response: Type.Object({ replayed: Type.Integer() }),
      errors: ['validation_failed', 'not_found', 'unavailable'],
    },
    sagas: {
      method: 'GET',
      path: '/api/ops/sagas',
      summary: 'Checkout sagas in flight (all=true: the latest of any phase) with each step taken',
      query: Type.Object(
        {
          all: Type.Optional(Type.Boolean()),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
        },
        { additionalProperties: false },
      ),
      response: SagaList,
      errors: ['unavailable'],
    },
    traces: {
      method: 'GET',
      path: '/api/ops/traces',
      summary: 'The recent traces every process keeps (RECENT_TRACES), newest first',
      response: Type.Object({ traces: Type.Array(TraceSummary) }),
    },
    trace: {
      method: 'GET',
      path: '/api/ops/traces/:traceId',
      summary: "One trace's spans from every process, in start order",
      params: Type.Object({ traceId: Type.String({ pattern: '^[0-9a-f]{32}$' }) }),
      response: Type.Object({ traceId: Type.String(), spans: Type.Array(Span) }),
      errors: ['not_found'],
    },
    routes: {
      method: 'GET',
      path: '/api/ops/routes',
      summary: "Request rate, errors and p99 per route over the last minute, from the gateway's own metrics",
      response: RouteStats,
    },
  },
  actions: {},
  events: {},
})
