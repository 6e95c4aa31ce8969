// A process's /health/ready read for people: its health in a word (with the reason), whether it is
// draining, and the circuit breakers it holds toward the instances it calls. Shared by
// `mosaic services status` and the operator API (gateway/ops/).

export interface ReadinessBody {
  readonly status: string
  readonly output?: string
  readonly checks?: Record<string, { instances?: { url: string; breaker: string }[] }[]>
}

export interface ReadinessSummary {
  /** pass, warn, fail, or unreachable. */
  readonly status: string
  readonly output?: string
  readonly draining: boolean
  /** `<service> <instance url>` → breaker state. */
  readonly breakers: Record<string, string>
}

export function summarizeReadiness(ready: ReadinessBody | undefined): ReadinessSummary {
  if (!ready) return { status: 'unreachable', draining: false, breakers: {} }
  const breakers: Record<string, string> = {}
  for (const [check, results] of Object.entries(ready.checks ?? {})) {
    for (const i of results[0]?.instances ?? []) breakers[`${check.replace(/^calls:/, '')} ${i.url}`] = i.breaker
  }
  return {
    status: ready.status,
    ...(ready.output ? { output: ready.output } : {}),
    draining: ready.output === 'draining',
    breakers,
  }
}

/** Asks `url`'s /health/ready (any status: a 503 still says why). */
export async function askReadiness(url: string, timeoutMs = 2_000): Promise<ReadinessSummary> {
  const body = await fetch(new URL('/health/ready', url), { signal: AbortSignal.timeout(timeoutMs) }).then(
    (res) => res.json() as Promise<ReadinessBody>,
    () => undefined,
  )
  return summarizeReadiness(body)
}
