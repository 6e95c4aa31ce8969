// How a call reaches the service that serves it: in this process (a function call) or over
// HTTP keep-alive (undici) to an instance of it, chosen and guarded by its upstream
// (kit/calls/upstream.ts). The caller's code is the same either way.
import { MosaicError, fromProblem } from '../errors.ts'
import { traceHeaders, withSpan, SpanKind } from '../telemetry/tracing.ts'
import { CALLER_HEADER, type Credentials } from './credentials.ts'
import type { ServiceInstance } from './host.ts'
import { notSent, type Upstream } from '../calls/upstream.ts'

export interface Transport {
  /**
   * `caller`: the name of the calling service (or `gateway`), which the receiver authenticates.
   * `idempotent`: the action may be retried (its contract says so).
   */
  invoke(action: string, input: unknown, deadline: number, caller: string, idempotent?: boolean): Promise<unknown>
  close?(): Promise<void>
}

/** Header carrying the caller's remaining time: relative, so clocks of two hosts need not agree. */
export const TIMEOUT_HEADER = 'mosaic-timeout-ms'
export const ACTIONS_PATH = '/_mosaic/actions'

/** Names an action's server span, in process or over HTTP: `<service>/<action>`. */
export const actionSpan = (service: string, action: string) => ({
  name: `${service}/${action}`,
  attributes: { 'rpc.system': 'mosaic', 'rpc.service': service, 'rpc.method': action },
})

/**
 * A call to an instance in this process: a function call, inside the server span the callee would
 * have over HTTP. Copies in and out: services share no objects in one process, just as over HTTP.
 */
export function localTransport(instance: ServiceInstance): Transport {
  return {
    invoke: (action, input, deadline) => {
      const { name, attributes } = actionSpan(instance.name, action)
      return withSpan(name, { kind: SpanKind.SERVER, service: instance.name, attributes }, async () =>
        structuredClone(await instance.invoke(action, structuredClone(input), deadline)),
      )
    },
  }
}

/** Errors of a request that never reached the instance: safe to send elsewhere. */
const UNSENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN'])

export function httpTransport(upstream: Upstream, credentials: Credentials): Transport {
  return {
    invoke(action, input, deadline, caller, idempotent = false) {
      const body = JSON.stringify(input)
      return upstream.send(
        async ({ pool, info }, signal) => {
          try {
            const res = await pool.request({
              method: 'POST',
              path: `${ACTIONS_PATH}/${action}`,
              headers: {
                'content-type': 'application/json',
                [TIMEOUT_HEADER]: String(Math.max(1, deadline - Date.now())),
                ...traceHeaders(),
                [CALLER_HEADER]: credentials.callerToken(caller),
              },
              body,
              signal,
            })
            const answer: unknown = await res.body.json().catch(() => undefined)
            if (res.statusCode >= 400) throw fromProblem(answer, res.statusCode)
            return answer
          } catch (error) {
            if (error instanceof MosaicError) throw error
            if (signal.aborted)
              throw new MosaicError('deadline_exceeded', { detail: `${info.url} did not answer in time` })
            const failure = new MosaicError('unavailable', {
              detail: `${info.url} is unreachable: ${(error as Error).message}`,
              cause: error,
            })
            throw UNSENT.has((error as { code?: string }).code ?? '') ? notSent(failure) : failure
          }
        },
        { deadline, idempotent },
      )
    },
    close: () => upstream.close(),
  }
}
