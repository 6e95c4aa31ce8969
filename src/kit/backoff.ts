// One backoff for everything that retries later (event deliveries, saga steps, mail): doubling
// from a base up to a ceiling, with equal jitter (half fixed, half random) so that many retries
// scheduled by one outage do not all land on the recovered server at the same moment.

export interface Backoff {
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

/** The delay before retry number `attempt` (1 for the first retry). */
export function backoffMs(attempt: number, policy: Backoff): number {
  const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1))
  return delay / 2 + Math.random() * (delay / 2)
}
