// The kit's public surface: everything a service author imports, and nothing else.
// Anything under ./internal is the platform's business, not a service's.
export { default as Type } from 'typebox'
export type { Static, TSchema } from 'typebox'
export { defineContract, type Contract, type CloudEvent, type RouteSpec, type ActionSpec } from './contract.ts'
export {
  defineService,
  on,
  onBatch,
  type ServiceContext,
  type CallContext,
  type RouteContext,
  type ServiceTx,
  type ServiceDb,
  type Client,
  type Subscription,
} from './service.ts'
export { MosaicError, defineErrors, codes, isRetryable, type FieldIssue } from './errors.ts'
export { Env } from './config.ts'
export { idempotencyKey } from './idempotency-key.ts'
export { clientKey } from './client-key.ts'
export { html, escapeHtml, wantsHtml, SafeHtml } from './html.ts'
export { backoffMs, type Backoff } from './backoff.ts'
export { requireIdentity, type Identity, type Caller } from './identity.ts'
export type { Principal, Resource } from './authz.ts'
export { toMinor, toDecimal, toAmount, minorDigits, Currency, Amount } from './money.ts'
export {
  Limit,
  Cursor,
  Page,
  encodeCursor,
  decodeCursor,
  invalidCursor,
  page,
  newestFirst,
  type NewestFirstList,
} from './pagination.ts'
export type { Sql } from './db/database.ts'
export { sideBySide } from './db/side-by-side.ts'
export { traceContext, traced, type TraceContext } from './trace.ts'
export { registry as metricsRegistry } from './telemetry/metrics.ts'
export { startWorker, type Worker, type WorkerOptions } from './worker.ts'
