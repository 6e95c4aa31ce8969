// One table of error codes (Fastify's lib/errors.js style): every failure the
// platform reports has a stable code, an HTTP status, and a `retryable` flag
// that retry and breaker policies read (Moleculer style).

export interface ErrorSpec {
  readonly status: number
  readonly title: string
  readonly retryable: boolean
}

const table = new Map<string, ErrorSpec>()

/** Registers error codes; services add their own domain codes the same way. */
export function defineErrors<const T extends Record<string, ErrorSpec>>(specs: T): { [K in keyof T]: K } {
  const names = {} as { [K in keyof T]: K }
  for (const [code, spec] of Object.entries(specs)) {
    const existing = table.get(code)
    if (existing && (existing.status !== spec.status || existing.retryable !== spec.retryable)) {
      throw new Error(`error code ${code} is already defined differently`)
    }
    table.set(code, spec)
    names[code as keyof T] = code as never
  }
  return names
}

/** The spec of a defined error code, if there is one. */
export function errorSpec(code: string): ErrorSpec | undefined {
  return table.get(code)
}

export const codes = defineErrors({
  bad_request: { status: 400, title: 'Bad request', retryable: false },
  malformed_json: { status: 400, title: 'Malformed JSON body', retryable: false },
  invalid_parameters: { status: 400, title: 'Invalid path or query parameters', retryable: false },
  unauthenticated: { status: 401, title: 'Authentication required', retryable: false },
  forbidden: { status: 403, title: 'Forbidden', retryable: false },
  not_found: { status: 404, title: 'Not found', retryable: false },
  route_not_found: { status: 404, title: 'No such route', retryable: false },
  method_not_allowed: { status: 405, title: 'Method not allowed', retryable: false },
  conflict: { status: 409, title: 'Conflict', retryable: false },
  payload_too_large: { status: 413, title: 'Payload too large', retryable: false },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', retryable: false },
  validation_failed: { status: 422, title: 'Validation failed', retryable: false },
  too_many_requests: { status: 429, title: 'Too many requests', retryable: true },
  idempotency_key_missing: { status: 400, title: 'An Idempotency-Key header is required', retryable: false },
  idempotency_key_reused: {
    status: 422,
    title: 'This Idempotency-Key was used for a different request',
    retryable: false,
  },
  idempotency_key_in_flight: {
    status: 409,
    title: 'A request with this Idempotency-Key is still being processed',
    retryable: true,
  },
  headers_too_large: { status: 431, title: 'Request header fields too large', retryable: false },
  request_timeout: { status: 408, title: 'The request took too long to arrive', retryable: true },
  internal: { status: 500, title: 'Internal error', retryable: false },
  bad_gateway: { status: 502, title: 'Upstream failed', retryable: true },
  unavailable: { status: 503, title: 'Service unavailable', retryable: true },
  deadline_exceeded: { status: 504, title: 'Deadline exceeded', retryable: true },
})

/** A failing field: where (JSON pointer into the input) and why. Data, rendered late (Zod style). */
export interface FieldIssue {
  readonly path: string
  readonly code: string
  readonly message: string
}

export interface MosaicErrorOptions {
  readonly detail?: string
  readonly issues?: readonly FieldIssue[]
  readonly cause?: unknown
  /** Overrides the table, e.g. for an error rebuilt from a remote problem document. */
  readonly status?: number
  readonly retryable?: boolean
  /** Seconds after which trying again may succeed: sent as Retry-After. */
  readonly retryAfter?: number
}

export class MosaicError extends Error {
  readonly code: string
  readonly status: number
  readonly retryable: boolean
  readonly issues: readonly FieldIssue[]
  readonly retryAfter?: number

  constructor(code: string, options: MosaicErrorOptions = {}) {
    const spec = table.get(code) ?? table.get('internal')!
    super(options.detail ?? spec.title, { cause: options.cause })
    this.name = 'MosaicError'
    this.code = code
    this.status = options.status ?? spec.status
    this.retryable = options.retryable ?? spec.retryable
    this.issues = options.issues ?? []
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter
  }

  get title(): string {
    return table.get(this.code)?.title ?? 'Error'
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof MosaicError && error.retryable
}

/** Turns anything thrown into a MosaicError; unknown errors become `internal` and keep their cause. */
export function toMosaicError(error: unknown): MosaicError {
  if (error instanceof MosaicError) return error
  return new MosaicError('internal', { cause: error })
}

export interface Problem {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  code: string
  retryable: boolean
  traceId?: string
  errors?: readonly FieldIssue[]
}

/** RFC 9457 problem document. Internal errors never leak their message. */
export function toProblem(error: MosaicError, instance?: string, traceId?: string): Problem {
  const problem: Problem = {
    type: `urn:mosaic:problem:${error.code}`,
    title: error.title,
    status: error.status,
    code: error.code,
    retryable: error.retryable,
  }
  if (error.code !== 'internal' && error.message !== error.title) problem.detail = error.message
  if (instance) problem.instance = instance
  if (traceId) problem.traceId = traceId
  if (error.issues.length > 0) problem.errors = error.issues
  return problem
}

/** Rebuilds an error from a problem document received over HTTP. */
export function fromProblem(body: unknown, status: number): MosaicError {
  const p = (typeof body === 'object' && body !== null ? body : {}) as Partial<Problem>
  const code = typeof p.code === 'string' ? p.code : status >= 500 ? 'bad_gateway' : 'bad_request'
  return new MosaicError(code, {
    detail: typeof p.detail === 'string' ? p.detail : undefined,
    issues: Array.isArray(p.errors) ? p.errors : undefined,
    status,
    retryable: typeof p.retryable === 'boolean' ? p.retryable : status >= 500,
  })
}
