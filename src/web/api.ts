// The pages call the system through the gateway's own public API, in-process (`app.inject`), as
// the browser's user: authentication, authorization, validation, rate limits and the embedded or
// distributed wiring are exactly the API's, and its problem+json answers are what pages show.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Problem } from '../kit/errors.ts'
import { addCookie, csrfOf } from './cookies.ts'
import { UNTRACED_HEADER, UNTRACED_TOKEN, isUntraced } from '../kit/telemetry/tracing.ts'

export type ApiResult<T> =
  | { readonly ok: true; readonly status: number; readonly data: T }
  | {
      readonly ok: false
      readonly status: number
      readonly problem: Problem
      /** A service is down, overloaded or slow (502/503/504, or no answer): a notice, not a form error. */
      readonly unavailable: boolean
    }

export interface ApiCall {
  readonly method?: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  readonly url: string
  readonly body?: unknown
  readonly headers?: Record<string, string>
}

export type Api = <T>(call: ApiCall) => Promise<ApiResult<T>>

const UNAVAILABLE = new Set([502, 503, 504])

/**
 * The API as `request`'s caller sees it. Its session cookie and client address go along (so
 * sign-in limits count the real client); unsafe calls carry the session's CSRF token, which the
 * web layer already compared with the form's. `reply` receives the cookies the API sets (sign-in,
 * sign-out).
 */
export function apiFor(app: FastifyInstance, request: FastifyRequest, reply?: FastifyReply): Api {
  return async function call<T>({ method = 'GET', url, body, headers = {} }: ApiCall): Promise<ApiResult<T>> {
    const forwarded: Record<string, string> = { accept: 'application/json', ...headers }
    // What the page is not traced for (the console's polling), its calls are not either.
    if (isUntraced(request.trace.span)) forwarded[UNTRACED_HEADER] = UNTRACED_TOKEN
    if (request.headers.cookie) forwarded.cookie = request.headers.cookie
    if (method !== 'GET') forwarded['x-csrf-token'] = csrfOf(request) ?? ''
    const traceparent = request.headers.traceparent
    if (typeof traceparent === 'string') forwarded.traceparent = traceparent
    try {
      const response = await app.inject({
        method,
        url,
        headers: forwarded,
        remoteAddress: request.ip,
        ...(body === undefined ? {} : { payload: body as object }),
      })
      const setCookie = response.headers['set-cookie']
      if (reply && setCookie) for (const cookie of [setCookie].flat()) addCookie(reply, cookie)
      const data = response.body === '' ? null : (JSON.parse(response.body) as unknown)
      if (response.statusCode < 400) return { ok: true, status: response.statusCode, data: data as T }
      return {
        ok: false,
        status: response.statusCode,
        problem: data as Problem,
        unavailable: UNAVAILABLE.has(response.statusCode),
      }
    } catch (error) {
      // An answer that is not JSON, or no answer at all: the page says the service is unreachable.
      request.log.warn({ err: error, url }, 'web: API call failed')
      return {
        ok: false,
        status: 503,
        problem: {
          type: 'urn:mosaic:problem:unavailable',
          title: 'Service unavailable',
          status: 503,
          code: 'unavailable',
          retryable: true,
        },
        unavailable: true,
      }
    }
  }
}
