// The resilience parameters of calls to one upstream service, from the environment:
// CALLS_<PARAMETER> for every upstream, <NAME>_CALLS_<PARAMETER> for one (CATALOG_CALLS_RETRIES=1).
import Type, { type Static } from 'typebox'
import { loadConfig, envPrefix, ConfigError } from '../config.ts'

const parameters = {
  BALANCER: Type.Union([Type.Literal('round-robin'), Type.Literal('least-outstanding')], { default: 'least-outstanding' }),
  /** Retries after the first attempt, for idempotent calls failing with a retryable error. */
  RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
  BACKOFF_MIN_MS: Type.Integer({ minimum: 1, default: 100 }),
  BACKOFF_MAX_MS: Type.Integer({ minimum: 1, default: 5_000 }),
  /** Retries may add at most this share of the calls made (percent). */
  RETRY_BUDGET_PERCENT: Type.Integer({ minimum: 0, maximum: 100, default: 20 }),
  /** Consecutive failures of one instance that open its breaker. */
  BREAKER_FAILURES: Type.Integer({ minimum: 1, default: 5 }),
  BREAKER_HALF_OPEN_MS: Type.Integer({ minimum: 1, default: 60_000 }),
  /** Calls let through a half-open breaker; all must succeed for it to close. */
  BREAKER_PROBES: Type.Integer({ minimum: 1, default: 3 }),
  /** Calls in flight to the upstream at once (all its instances), and calls waiting for a slot. */
  CONCURRENCY: Type.Integer({ minimum: 1, default: 256 }),
  QUEUE: Type.Integer({ minimum: 0, default: 64 }),
  CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 2_000 }),
  /** How often each instance's /health/ready is asked (draining, not ready). */
  PROBE_MS: Type.Integer({ minimum: 100, default: 2_000 }),
}

const Policy = Type.Object(parameters)
export type CallPolicy = Static<typeof Policy>

export function callPolicy(service: string, env: NodeJS.ProcessEnv): CallPolicy {
  const own = `${envPrefix(service)}_CALLS_`
  const values: NodeJS.ProcessEnv = {}
  for (const key of Object.keys(parameters)) values[key] = env[`${own}${key}`] || env[`CALLS_${key}`]
  try {
    return loadConfig(Policy, values)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const variable = env[`${own}${error.variable}`] ? `${own}${error.variable}` : `CALLS_${error.variable}`
    throw new ConfigError(variable, error.message.replace(/^invalid configuration: \S+ /, ''), undefined)
  }
}
