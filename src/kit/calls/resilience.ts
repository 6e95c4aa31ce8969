// The cockatiel policies around calls to one upstream: a bulkhead for the upstream, a circuit
// breaker per instance, retries with full-jitter exponential backoff bounded by the caller's
// deadline, and a retry budget. Only the budget is written here: cockatiel has none.
import {
  bulkhead,
  circuitBreaker,
  retry,
  handleWhen,
  ConsecutiveBreaker,
  ExponentialBackoff,
  fullJitterGenerator,
  type IBackoffFactory,
  type IBackoff,
  type IRetryBackoffContext,
  type CircuitBreakerPolicy,
  type BulkheadPolicy,
} from 'cockatiel'
import { MosaicError } from '../errors.ts'
import type { CallPolicy } from './policy.ts'

/** An instance's failure, as its breaker counts it: it did not answer, or answered 5xx. Domain errors (4xx) are answers. */
export const isFailure = (error: unknown): boolean => !(error instanceof MosaicError) || error.status >= 500

export function instanceBreaker(policy: CallPolicy): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isFailure), {
    breaker: new ConsecutiveBreaker(policy.BREAKER_FAILURES),
    halfOpenAfter: policy.BREAKER_HALF_OPEN_MS,
    // Half-open lets this many calls through; any failure among them opens it again.
    halfOpenSampling: { calls: policy.BREAKER_PROBES, threshold: 0 },
  })
}

export function upstreamBulkhead(policy: CallPolicy): BulkheadPolicy {
  return bulkhead(policy.CONCURRENCY, policy.QUEUE)
}

/**
 * Retries may add at most `percent` % to the calls made: every call earns a fraction of a
 * retry, every retry spends a whole one (Finagle's and Linkerd's retry budget). When half the
 * calls fail, retries do not double the load on an upstream that is already struggling.
 */
export function retryBudget(percent: number, cap = 100): { earn(): void; spend(): boolean } {
  let balance = 0
  const ratio = percent / 100
  return {
    earn() {
      balance = Math.min(cap, balance + ratio)
    },
    spend() {
      if (balance < 1) return false
      balance -= 1
      return true
    },
  }
}

/** Backoff that never waits past `deadline`: the attempt after it then fails at once as deadline_exceeded. */
function until(
  inner: IBackoffFactory<IRetryBackoffContext<unknown>>,
  deadline: number,
): IBackoffFactory<IRetryBackoffContext<unknown>> {
  return {
    next(context): IBackoff<IRetryBackoffContext<unknown>> {
      const backoff = inner.next(context)
      return {
        duration: Math.max(0, Math.min(backoff.duration, deadline - Date.now())),
        next: (c) => until(backoff, deadline).next(c),
      }
    },
  }
}

/** A retry policy for one call: `shouldRetry` decides per failure (retryable, idempotent, within budget). */
export function callRetry(policy: CallPolicy, deadline: number, shouldRetry: (error: unknown) => boolean) {
  const backoff = new ExponentialBackoff({
    generator: fullJitterGenerator,
    initialDelay: policy.BACKOFF_MIN_MS,
    maxDelay: policy.BACKOFF_MAX_MS,
  })
  return retry(handleWhen(shouldRetry), { maxAttempts: policy.RETRIES, backoff: until(backoff, deadline) })
}
