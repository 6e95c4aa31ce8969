// Gathers the operator view from every process: the gateway's own (its embedded services, asked
// in-process) and each instance of every remote service (asked over /_mosaic/ops with the
// gateway's internal credential). The gateway keeps none of it: each request asks afresh.
import type { Static } from 'typebox'
import { MosaicError, fromProblem } from '../../kit/errors.ts'
import { CALLER_HEADER, type Credentials } from '../../kit/internal/credentials.ts'
import type { Upstream, InstanceStatus } from '../../kit/calls/upstream.ts'
import type { SpanRecord } from '../../kit/telemetry/recent-traces.ts'
import type { ProcessOps } from '../../kit/internal/process-ops.ts'
import { OPS_PATH } from '../../kit/internal/ops-endpoint.ts'
import { askReadiness, type ReadinessSummary } from '../../kit/internal/readiness-report.ts'
import type { BusReport, ServicesReport, TraceSummary } from './contract.ts'

export interface OpsSources {
  /** This process: the services embedded in the gateway. */
  readonly local: ProcessOps
  readonly localServices: readonly string[]
  /** The gateway's own readiness and address (its embedded services are its instance). */
  readonly self: () => Promise<{ url: string; ready: ReadinessSummary }>
  /** Services in other processes, with the gateway's view of their instances. */
  readonly remote: () => readonly Upstream[]
  readonly credentials?: Credentials
}

const ASK_TIMEOUT_MS = 3_000
/** The newest traces listed; each process keeps RECENT_TRACES of its own. */
const TRACES_LISTED = 100

export function opsSystem(sources: OpsSources) {
  async function ask<T>(url: string, path: string, body?: unknown): Promise<T> {
    if (!sources.credentials) throw new MosaicError('unavailable', { detail: 'no internal credentials to ask with' })
    // Only remote processes are asked over HTTP: undici is loaded then, not by every start.
    const { request } = await import('undici')
    const res = await request(new URL(`${OPS_PATH}${path}`, url), {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        [CALLER_HEADER]: sources.credentials.callerToken('gateway'),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
    })
    const answer: unknown = await res.body.json().catch(() => undefined)
    if (res.statusCode >= 400) throw fromProblem(answer, res.statusCode)
    return answer as T
  }

  /** One instance's answer (bus, replay: replicas share the database and the consumers): the first fit one that answers. */
  async function askAny<T>(upstream: Upstream, path: string, body?: unknown): Promise<T> {
    const instances = [...upstream.status()].sort(
      (a, b) => Number(b.health === 'ready' && !b.draining) - Number(a.health === 'ready' && !a.draining),
    )
    let failure: unknown = new MosaicError('unavailable', { detail: `no instance of ${upstream.service} is running` })
    for (const instance of instances) {
      try {
        return await ask<T>(instance.url, path, body)
      } catch (error) {
        if (error instanceof MosaicError && error.status < 500) throw error
        failure = error
      }
    }
    throw failure
  }

  /** Every process's recent spans (of one trace when given); an instance that does not answer is left out. */
  async function spans(traceId?: string): Promise<SpanRecord[]> {
    const query = traceId ? `?traceId=${traceId}` : ''
    const remote = await Promise.all(
      sources
        .remote()
        .flatMap((u) => u.status())
        .map((i) =>
          ask<{ spans: SpanRecord[] }>(i.url, `/spans${query}`).then(
            (r) => r.spans,
            () => [],
          ),
        ),
    )
    return [...sources.local.spans(traceId), ...remote.flat()]
  }

  return {
    async services(): Promise<Static<typeof ServicesReport>> {
      const self = await sources.self()
      const embedded = sources.localServices.map((name) => ({
        name,
        instances: [
          {
            id: `gateway-${process.pid}`,
            url: self.url,
            embedded: true,
            health: self.ready.status,
            output: self.ready.output ?? null,
            draining: self.ready.draining,
            breaker: null,
            outstanding: null,
            breakers: self.ready.breakers,
          },
        ],
      }))
      const remote = await Promise.all(
        sources.remote().map(async (upstream) => ({
          name: upstream.service,
          instances: await Promise.all(
            upstream.status().map(async (i: InstanceStatus) => {
              const ready = await askReadiness(i.url)
              return {
                id: i.id,
                url: i.url,
                embedded: false,
                health: ready.draining || i.draining ? 'draining' : ready.status,
                output: ready.output ?? null,
                draining: ready.draining || i.draining,
                breaker: i.breaker,
                outstanding: i.outstanding,
                breakers: ready.breakers,
              }
            }),
          ),
        })),
      )
      return { services: [...embedded, ...remote].sort((a, b) => a.name.localeCompare(b.name)) }
    },

    async bus(): Promise<Static<typeof BusReport>> {
      const reports = [
        await sources.local.bus(),
        ...(await Promise.all(sources.remote().map((u) => askAny<Static<typeof BusReport>>(u, '/bus')))),
      ]
      return {
        kind: reports[0]!.kind,
        connected: reports.every((r) => r.connected),
        subscriptions: reports.flatMap((r) => r.subscriptions).sort((a, b) => a.id.localeCompare(b.id)),
        deadLetters: reports.flatMap((r) => r.deadLetters).sort((a, b) => a.service.localeCompare(b.service)),
        letters: reports.flatMap((r) => r.letters).sort((a, b) => b.failedAt.localeCompare(a.failedAt)),
      }
    },

    async replay(service: string, ids?: readonly number[]): Promise<number> {
      if (sources.localServices.includes(service)) return sources.local.replay(service, ids)
      const upstream = sources.remote().find((u) => u.service === service)
      if (!upstream) throw new MosaicError('not_found', { detail: `no service ${service}` })
      return (await askAny<{ replayed: number }>(upstream, '/replay', { service, ...(ids ? { ids } : {}) })).replayed
    },

    async traces(): Promise<Static<typeof TraceSummary>[]> {
      const byTrace = Map.groupBy(await spans(), (s) => s.traceId)
      return [...byTrace.entries()]
        .map(([traceId, list]) => summarize(traceId, list))
        .sort((a, b) => b.startMs - a.startMs)
        .slice(0, TRACES_LISTED)
    },

    async trace(traceId: string): Promise<SpanRecord[]> {
      const list = (await spans(traceId)).sort((a, b) => a.startMs - b.startMs)
      if (list.length === 0) throw new MosaicError('not_found', { detail: `no process keeps trace ${traceId}` })
      return list
    },
  }
}

export type OpsSystem = ReturnType<typeof opsSystem>

/** A trace in one line: its root (or earliest kept) span, its extent, the services it crossed. */
export function summarize(traceId: string, spans: readonly SpanRecord[]): Static<typeof TraceSummary> {
  const ids = new Set(spans.map((s) => s.spanId))
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs)
  const root = sorted.find((s) => !s.parentSpanId || !ids.has(s.parentSpanId)) ?? sorted[0]!
  const start = sorted[0]!.startMs
  const end = Math.max(...spans.map((s) => s.startMs + s.durationMs))
  return {
    traceId,
    name: root.name,
    services: [...new Set(sorted.map((s) => s.service))],
    startMs: start,
    durationMs: Math.round((end - start) * 1000) / 1000,
    spans: spans.length,
    error: spans.some((s) => s.error),
  }
}
