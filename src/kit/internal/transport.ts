// How a call reaches the service that serves it: in this process (a function call) or over
// HTTP keep-alive (undici). The caller's code is the same either way.
import { Pool } from 'undici'
import { MosaicError, fromProblem } from '../errors.ts'
import { traceHeaders, withSpan, SpanKind } from '../telemetry/tracing.ts'
import { CALLER_HEADER, type Credentials } from './credentials.ts'
import type { ServiceInstance } from './host.ts'

export interface Transport {
  /** `caller`: the name of the calling service (or `gateway`), which the receiver authenticates. */
  invoke(action: string, input: unknown, deadline: number, caller: string): Promise<unknown>
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
      return withSpan(name, { kind: SpanKind.SERVER, service: instance.name, attributes },
        async () => structuredClone(await instance.invoke(action, structuredClone(input), deadline)))
    },
  }
}

export function httpTransport(baseUrl: string, credentials: Credentials): Transport {
  const pool = new Pool(baseUrl, { connections: 64, keepAliveTimeout: 10_000 })
  return {
    async invoke(action, input, deadline, caller) {
      const remaining = deadline - Date.now()
      if (remaining <= 0) throw new MosaicError('deadline_exceeded')
      const signal = AbortSignal.timeout(remaining)
      try {
        const res = await pool.request({
          method: 'POST',
          path: `${ACTIONS_PATH}/${action}`,
          headers: {
            'content-type': 'application/json', [TIMEOUT_HEADER]: String(remaining), ...traceHeaders(),
            [CALLER_HEADER]: await credentials.callerToken(caller),
          },
          body: JSON.stringify(input),
          signal,
        })
        const body: unknown = await res.body.json().catch(() => undefined)
        if (res.statusCode >= 400) throw fromProblem(body, res.statusCode)
        return body
      } catch (error) {
        if (error instanceof MosaicError) throw error
        if (signal.aborted) throw new MosaicError('deadline_exceeded', { detail: `${baseUrl} did not answer within ${remaining} ms` })
        throw new MosaicError('unavailable', { detail: `${baseUrl} is unreachable: ${(error as Error).message}`, cause: error })
      }
    },
    close: () => pool.close(),
  }
}
