// What the calls to other services do, for /metrics: attempts (retries show as attempts beyond
// the calls counted by rpc_client_duration_seconds), breaker states and transitions, bulkhead refusals.
import { Counter, Gauge } from 'prom-client'
import { registry } from '../telemetry/metrics.ts'

export const callAttempts = new Counter({
  name: 'mosaic_rpc_client_attempts_total',
  help: 'Attempts sent to upstream instances (first tries and retries), by outcome',
  labelNames: ['rpc_service', 'instance', 'outcome'],
  registers: [registry],
})

export const breakerState = new Gauge({
  name: 'mosaic_circuit_breaker_state',
  help: 'Circuit breaker of an upstream instance: 0 closed, 1 open, 2 half-open',
  labelNames: ['rpc_service', 'instance'],
  registers: [registry],
})

export const breakerTransitions = new Counter({
  name: 'mosaic_circuit_breaker_transitions_total',
  help: 'Circuit breaker state changes, by the state entered',
  labelNames: ['rpc_service', 'instance', 'state'],
  registers: [registry],
})

export const bulkheadRejections = new Counter({
  name: 'mosaic_bulkhead_rejections_total',
  help: 'Calls refused because an upstream had as many calls in flight and queued as allowed',
  labelNames: ['rpc_service'],
  registers: [registry],
})
