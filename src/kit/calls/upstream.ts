// Calls to one upstream service from this process: its instances (from the registry), a
// keep-alive pool and a breaker per instance, their readiness as last probed, a balancer over
// those fit to take a call, and the resilience policies (resilience.ts). The actions transport
// and the gateway's proxy both send through `send`.
import { createRequire } from 'node:module'
import type { Pool } from 'undici'
import {
  BulkheadRejectedError,
  BrokenCircuitError,
  TaskCancelledError,
  CircuitState,
  type CircuitBreakerPolicy,
} from 'cockatiel'
import type { Logger } from 'pino'
import type { CheckResult } from '../internal/http-app.ts'
import { MosaicError, isRetryable } from '../errors.ts'
import type { InstanceInfo, Registry } from '../discovery/registry.ts'
import { createBalancer } from './balancer.ts'
import { callPolicy, type CallPolicy } from './policy.ts'
import { instanceBreaker, upstreamBulkhead, retryBudget, callRetry } from './resilience.ts'
import { callAttempts, breakerState, breakerTransitions, bulkheadRejections } from './metrics.ts'

/**
 * undici, loaded with the first instance of a service in another process: a process whose services
 * are all its own (`mosaic start`) never needs it, and it is some 110 modules, a tenth of a second
 * or more of every start. Synchronous, as an endpoint is made inside the registry's refresh.
 */
const undici = (() => {
  let loaded: typeof import('undici') | undefined
  return (): typeof import('undici') => (loaded ??= createRequire(import.meta.url)('undici') as typeof import('undici'))
})()

export interface Endpoint {
  info: InstanceInfo
  readonly pool: Pool
  readonly breaker: CircuitBreakerPolicy
  outstanding: number
  /** When its breaker last opened: it is tried again (half-open) once BREAKER_HALF_OPEN_MS have passed. */
  openedAt: number
  /** From the last probe of its /health/ready: 'ready' until told otherwise. */
  health: 'ready' | 'not ready' | 'draining' | 'unreachable'
  missedProbes: number
}

export interface SendOptions {
  /** Epoch ms: no attempt, and no wait between attempts, goes past it. */
  readonly deadline: number
  /** Safe to send twice (an idempotent action, a GET, a call carrying an idempotency key). */
  readonly idempotent: boolean
}

export interface InstanceStatus {
  readonly id: string
  readonly url: string
  readonly health: Endpoint['health']
  readonly draining: boolean
  readonly breaker: 'closed' | 'open' | 'half-open' | 'isolated'
  readonly outstanding: number
}

export interface Upstream {
  readonly service: string
  /**
   * Runs `attempt` against an instance chosen by the balancer, under the policies. An attempt
   * that throws `notSent(error)` never reached the instance, so it may be retried even when
   * the call is not idempotent.
   */
  send<T>(attempt: (endpoint: Endpoint, signal: AbortSignal) => Promise<T>, options: SendOptions): Promise<T>
  status(): InstanceStatus[]
  close(): Promise<void>
}

const unsent = new WeakSet<object>()
/** Marks an error as raised before the request left (refused connection, open breaker). */
export function notSent<E extends object>(error: E): E {
  unsent.add(error)
  return error
}

const stateNames = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
} as const

export function createUpstream(service: string, registry: Registry, policy: CallPolicy, log: Logger): Upstream {
  const endpoints = new Map<string, Endpoint>()
  const choose = createBalancer(policy.BALANCER)
  const bulkhead = upstreamBulkhead(policy)
  const budget = retryBudget(policy.RETRY_BUDGET_PERCENT)

  const add = (info: InstanceInfo): Endpoint => {
    const breaker = instanceBreaker(policy)
    const labels = { rpc_service: service, instance: info.id }
    breakerState.set(labels, 0)
    // Once per transition, not per refused call.
    breaker.onStateChange((state) => {
      const name = stateNames[state]
      breakerState.set(labels, state)
      if (state === CircuitState.Open) endpoint.openedAt = Date.now()
      breakerTransitions.inc({ ...labels, state: name })
      const level = state === CircuitState.Closed ? 'info' : 'warn'
      log[level]({ upstream: service, instance: info.id, url: info.url, breaker: name }, `circuit breaker ${name}`)
    })
    const endpoint: Endpoint = {
      info,
      breaker,
      outstanding: 0,
      openedAt: 0,
      health: 'ready',
      missedProbes: 0,
      pool: new (undici().Pool)(info.url, {
        connections: 128,
        keepAliveTimeout: 10_000,
        connect: { timeout: policy.CONNECT_TIMEOUT_MS },
      }),
    }
    endpoints.set(info.id, endpoint)
    return endpoint
  }

  /** The registry's view, applied: new instances added, gone ones closed once idle. */
  const refresh = (): Endpoint[] => {
    const current = registry.instances(service)
    const list: Endpoint[] = []
    for (const info of current) {
      const known = endpoints.get(info.id)
      if (!known) list.push(add(info))
      else {
        known.info = info
        list.push(known)
      }
    }
    if (list.length !== endpoints.size) {
      for (const [id, endpoint] of endpoints) {
        if (current.some((i) => i.id === id)) continue
        endpoints.delete(id)
        breakerState.remove({ rpc_service: service, instance: id })
        void endpoint.pool.close().catch(() => {})
      }
    }
    return list
  }

  // An open breaker refuses calls until it is due for its probes: only then is its instance chosen again.
  const fit = (e: Endpoint): boolean =>
    !e.info.draining &&
    e.health === 'ready' &&
    (e.breaker.state !== CircuitState.Open || Date.now() - e.openedAt >= policy.BREAKER_HALF_OPEN_MS)

  // Readiness of every known instance, asked in the background: a starting, failing or
  // draining instance (static URLs have no registry to say so) is left out until it is ready.
  const probe = setInterval(() => {
    for (const endpoint of refresh()) {
      endpoint.pool
        .request({ method: 'GET', path: '/health/ready', signal: AbortSignal.timeout(policy.PROBE_MS) })
        .then(
          async (res) => {
            const body = (await res.body.json().catch(() => ({}))) as { output?: string }
            endpoint.health = res.statusCode === 200 ? 'ready' : body.output === 'draining' ? 'draining' : 'not ready'
            endpoint.missedProbes = 0
          },
          // One probe lost to a busy moment is not an outage: two in a row are (the breaker sees real calls fail sooner).
          () => {
            if (++endpoint.missedProbes >= 2) endpoint.health = 'unreachable'
          },
        )
    }
  }, policy.PROBE_MS).unref()

  const attemptOn = async <T>(
    attempt: (endpoint: Endpoint, signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
    deadline: number,
  ): Promise<T> => {
    if (Date.now() >= deadline) throw new MosaicError('deadline_exceeded')
    const all = refresh()
    const endpoint = choose(all.filter(fit)) ?? choose(all.filter((e) => !e.info.draining))
    if (!endpoint)
      throw notSent(new MosaicError('unavailable', { detail: `no instance of ${service} is available`, retryAfter: 1 }))
    endpoint.outstanding++
    let outcome = 'ok'
    try {
      return await endpoint.breaker.execute(() => attempt(endpoint, signal))
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        outcome = 'breaker_open'
        throw notSent(
          new MosaicError('unavailable', {
            detail: `${service} instance ${endpoint.info.id} is failing (circuit open)`,
            retryAfter: 1,
          }),
        )
      }
      outcome = error instanceof MosaicError ? error.code : 'error'
      throw error
    } finally {
      endpoint.outstanding--
      callAttempts.inc({ rpc_service: service, instance: endpoint.info.id, outcome })
    }
  }

  return {
    service,
    async send(attempt, { deadline, idempotent }) {
      const remaining = deadline - Date.now()
      if (remaining <= 0) throw new MosaicError('deadline_exceeded')
      const signal = AbortSignal.timeout(remaining)
      budget.earn()
      const shouldRetry = (error: unknown): boolean =>
        isRetryable(error) && (idempotent || unsent.has(error as object)) && budget.spend()
      try {
        return await bulkhead.execute(() =>
          callRetry(policy, deadline, shouldRetry).execute(() => attemptOn(attempt, signal, deadline), signal),
        )
      } catch (error) {
        if (error instanceof BulkheadRejectedError) {
          bulkheadRejections.inc({ rpc_service: service })
          throw new MosaicError('unavailable', {
            detail: `${service} has ${policy.CONCURRENCY} calls in flight and ${policy.QUEUE} waiting`,
            retryAfter: 1,
          })
        }
        if (error instanceof TaskCancelledError || (signal.aborted && !(error instanceof MosaicError))) {
          throw new MosaicError('deadline_exceeded', { detail: `${service} did not answer within ${remaining} ms` })
        }
        throw error
      }
    },
    status: () =>
      refresh().map((e) => ({
        id: e.info.id,
        url: e.info.url,
        health: e.health,
        draining: e.info.draining,
        breaker: stateNames[e.breaker.state],
        outstanding: e.outstanding,
      })),
    async close() {
      clearInterval(probe)
      await Promise.all([...endpoints.values()].map((e) => e.pool.close().catch(() => {})))
    },
  }
}

/** An upstream at fixed URLs with the default policies: for tools and tests that call one service directly. */
export function upstreamAt(service: string, urls: readonly string[], log: Logger): Upstream {
  const instances = urls.map((url) => ({ service, id: url, url, version: '', startedAt: '', draining: false }))
  const registry: Registry = {
    kind: 'static',
    instances: () => instances,
    knows: () => true,
    join: async () => {},
    drain: async () => false,
    close: async () => {},
  }
  return createUpstream(service, registry, callPolicy(service, {}), log)
}

/** An upstream as /health/ready shows it: degraded when no instance can take a call or a breaker is not closed. */
export function upstreamHealth(upstream: Upstream): CheckResult {
  const instances = upstream.status()
  const fit = instances.filter((i) => i.health === 'ready' && !i.draining && i.breaker !== 'open')
  const output =
    fit.length === 0
      ? `no instance of ${upstream.service} can take calls`
      : instances.some((i) => i.breaker !== 'closed')
        ? `a circuit breaker of ${upstream.service} is not closed`
        : undefined
  return { status: output ? 'warn' : 'pass', ...(output ? { output } : {}), componentType: 'component', instances }
}
