// Calling a node over real HTTP from tests, and reading its problem+json refusals.
import assert from 'node:assert/strict'

export interface Reply<T = unknown> {
  status: number
  headers: Headers
  /** Parsed when the answer is JSON (problem+json included); undefined otherwise (see `text`). */
  body: T
  text: string
  /** Wall time of the request, milliseconds. */
  ms: number
}

export interface CallOptions {
  /** Sent as JSON (content-type set unless given). */
  json?: unknown
  /** Sent as is (a FormData as multipart/form-data, its content type set by fetch). */
  body?: string | FormData
  /** An `authorization` given here wins over `token`. */
  headers?: Record<string, string>
  /** Authorization: Bearer <token>. */
  token?: string
  /** The session cookie's value (cookie name from sessionCookieName). */
  cookie?: string
  /** X-CSRF-Token. */
  csrf?: string
}

export const COOKIE_NAME = '__Host-mosaic-session'

/** A node's base URL, or anything holding one (a started node, a test harness). */
export type Base = string | { readonly url: string }
const urlOf = (base: Base): string => (typeof base === 'string' ? base : base.url)

export async function call<T = unknown>(
  base: Base,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers }
  let body = options.body
  if (options.json !== undefined) {
    body = JSON.stringify(options.json)
    headers['content-type'] ??= 'application/json'
  }
  if (options.token !== undefined) headers.authorization ??= `Bearer ${options.token}`
  if (options.cookie !== undefined) headers.cookie = `${COOKIE_NAME}=${options.cookie}`
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf
  const started = performance.now()
  const response = await fetch(new URL(path, urlOf(base)), { method, headers, body })
  const text = await response.text()
  const ms = performance.now() - started
  let parsed: unknown = undefined
  if (/json/.test(response.headers.get('content-type') ?? '') && text) parsed = JSON.parse(text)
  return { status: response.status, headers: response.headers, body: parsed as T, text, ms }
}

export interface Problem {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  instance?: string
  traceId?: string
  retryable?: boolean
  errors?: { path: string; code: string; message: string }[]
}

/** A refusal: the status, a problem+json content type, and the code, all three. */
export function assertProblem(reply: Reply | Omit<Reply, 'ms'>, status: number, code: string, message = ''): Problem {
  const where = `${message ? `${message}: ` : ''}${reply.status} ${reply.text.slice(0, 300)}`
  assert.equal(reply.status, status, where)
  assert.equal(reply.headers.get('content-type'), 'application/problem+json; charset=utf-8', where)
  const problem = reply.body as Problem
  assert.equal(problem.code, code, where)
  assert.equal(problem.status, status, where)
  assert.equal(problem.type, `urn:mosaic:problem:${code}`, where)
  return problem
}

/** `assertProblem` for a fetch Response (its body is read here). */
export async function problemOf(response: Response, status: number, code: string, message = ''): Promise<Problem> {
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return assertProblem({ status: response.status, headers: response.headers, body, text }, status, code, message)
}

/** A 422 (or `status`) whose field errors name `path`. */
export function assertFieldError(reply: Reply, path: string, code = 'validation_failed', status = 422): Problem {
  const problem = assertProblem(reply, status, code)
  assert.ok(
    problem.errors?.some((e) => e.path === path),
    `expected an error at ${path}, got ${JSON.stringify(problem.errors)}`,
  )
  return problem
}
