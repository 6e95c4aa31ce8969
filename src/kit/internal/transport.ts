// How a call reaches the service that serves it: in this process (a function call) or over
// HTTP keep-alive (undici). The caller's code is the same either way.
import { Pool } from 'undici'
import { MosaicError, fromProblem } from '../errors.ts'
import { traceHeaders } from '../telemetry/tracing.ts'
import { CALLER_HEADER, type Credentials } from './credentials.ts'

export interface Transport {
  /** `caller`: the name of the calling service (or `gateway`), which the receiver authenticates. */
  invoke(action: string, input: unknown, deadline: number, caller: string): Promise<unknown>
  close?(): Promise<void>
}

/** Header carrying the caller's remaining time: relative, so clocks of two hosts need not agree. */
export const TIMEOUT_HEADER = 'mosaic-timeout-ms'
export const ACTIONS_PATH = '/_mosaic/actions'

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
