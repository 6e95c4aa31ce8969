// The resilience parameters of calls to one upstream service, from the environment:
// CALLS_<PARAMETER> for every upstream, <NAME>_CALLS_<PARAMETER> for one (CATALOG_CALLS_RETRIES=1).
import Type, { type Static } from 'typebox'
import { loadConfig, envPrefix, ConfigError } from '../config.ts'

const parameters = {
  BALANCER: Type.Union([Type.Literal('round-robin'), Type.Literal('least-outstanding')], {
    default: 'least-outstanding',
    description: 'How an instance is chosen: in turn, or the less busy of two at random',
  }),
  RETRIES: Type.Integer({
    minimum: 0,
    maximum: 10,
    default: 3,
    description: 'Retries after the first attempt, for idempotent calls failing with a retryable error',
  }),
  BACKOFF_MIN_MS: Type.Integer({
    minimum: 1,
    default: 100,
    description: 'Smallest retry delay (exponential, full jitter)',
  }),
  BACKOFF_MAX_MS: Type.Integer({ minimum: 1, default: 5_000, description: 'Largest retry delay' }),
  RETRY_BUDGET_PERCENT: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 20,
    description: 'Retries may add at most this share of the calls made',
  }),
  BREAKER_FAILURES: Type.Integer({
    minimum: 1,
    default: 5,
    description: 'Consecutive failures of one instance that open its breaker',
  }),
  BREAKER_HALF_OPEN_MS: Type.Integer({
    minimum: 1,
    default: 60_000,
    description: 'Time an open breaker waits before letting probes through',
  }),
  BREAKER_PROBES: Type.Integer({
    minimum: 1,
    default: 3,
    description: 'Calls let through a half-open breaker; all must succeed for it to close',
  }),
  CONCURRENCY: Type.Integer({
    minimum: 1,
    default: 256,
    description: 'Calls in flight to the upstream at once (all its instances): the bulkhead',
  }),
  QUEUE: Type.Integer({
    minimum: 0,
    default: 64,
    description: 'Calls waiting for a slot of the bulkhead; beyond it: 503 with Retry-After',
  }),
  CONNECT_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 2_000,
    description: 'Time allowed to open a connection to an instance',
  }),
  PROBE_MS: Type.Integer({
    minimum: 100,
    default: 2_000,
    description: "How often each instance's /health/ready is asked (draining, not ready)",
  }),
}

const Policy = Type.Object(parameters)

/** The parameters as CALLS_<PARAMETER> (every upstream; <NAME>_CALLS_<PARAMETER> for one): the configuration reference lists these. */
export const CallsConfig = Type.Object(
  Object.fromEntries(Object.entries(parameters).map(([key, schema]) => [`CALLS_${key}`, schema])),
)
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
