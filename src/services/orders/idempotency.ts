// Idempotency keys for POST /api/orders (draft-ietf-httpapi-idempotency-key-header): a key is
// the caller's, bound to a fingerprint of the request; a repeat gets the stored answer, a
// different request under the same key 422, a repeat while the first is still running 409.
// Keys live in the database, so they outlast restarts; expired ones are swept by the saga runner.
import { createHash } from 'node:crypto'
import { MosaicError, type Sql, type ServiceDb, type ServiceTx } from '../../kit/index.ts'
import type { OrdersContract } from './contract.ts'

export interface Scope {
  readonly tenantId: string
  readonly userId: string
  readonly key: string
}

export interface StoredResponse {
  readonly status: number
  readonly body: unknown
  readonly location: string | null
}

export type Claim = { readonly fresh: true } | { readonly fresh: false; readonly response: StoredResponse }

export interface IdempotencyOptions {
  readonly ttlHours: number
  /** How long a repeat waits for the first request to finish before answering 409. */
  readonly waitMs: number
  /**
   * How long the first request may take to place its order: after that, an in-flight key whose
   * request never finished (its process died) may be taken over by a repeat.
   */
  readonly abandonAfterMs: number
}

/** The request as the service understood it, so key order or spacing in the JSON does not matter. */
export const fingerprint = (request: unknown): string =>
  createHash('sha256').update(JSON.stringify(request)).digest('hex')

interface KeyRow {
  fingerprint: string
  status: 'in_flight' | 'done'
  response_status: number | null
  response_body: string | null
  location: string | null
  abandoned: boolean
  expired: boolean
}

// Kept as text, not jsonb: a replay must be the same bytes, and jsonb reorders keys.
const stored = (row: KeyRow): StoredResponse => ({
  status: row.response_status!,
  body: JSON.parse(row.response_body!) as unknown,
  location: row.location,
})
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function tryClaim(
  db: ServiceDb<OrdersContract>,
  scope: Scope,
  print: string,
  options: IdempotencyOptions,
): Promise<Claim | 'busy'> {
  const lockMs = String(options.abandonAfterMs)
  const insert = (sql: Sql): Promise<unknown[]> =>
    sql.query(
      `insert into idempotency_keys (tenant_id, user_id, key, fingerprint, status, locked_until, expires_at)
      values ($1, $2, $3, $4, 'in_flight', now() + $5::int * interval '1 millisecond', now() + $6::int * interval '1 hour')
      on conflict do nothing returning key`,
      [scope.tenantId, scope.userId, scope.key, print, lockMs, options.ttlHours],
    )
  // A new key, the usual case, is this one statement; only a key already there needs the
  // transaction below (three round trips more), to read and change its row under a lock.
  if ((await insert(db)).length > 0) return { fresh: true }
  return db.transaction(async (tx) => {
    if ((await insert(tx)).length > 0) return { fresh: true } as const
    const [row] = await tx.query<KeyRow>(
      `select fingerprint, status, response_status, response_body, location,
        locked_until < now() as abandoned, expires_at < now() as expired
      from idempotency_keys where tenant_id = $1 and user_id = $2 and key = $3 for update`,
      [scope.tenantId, scope.userId, scope.key],
    )
    if (!row) return 'busy' // deleted in between (a failed first request): try again
    if (row.expired) {
      await tx.query(
        `update idempotency_keys set fingerprint = $4, status = 'in_flight', order_id = null, response_status = null, response_body = null, location = null,
        locked_until = now() + $5::int * interval '1 millisecond', created_at = now(), expires_at = now() + $6::int * interval '1 hour'
        where tenant_id = $1 and user_id = $2 and key = $3`,
        [scope.tenantId, scope.userId, scope.key, print, lockMs, options.ttlHours],
      )
      return { fresh: true } as const
    }
    if (row.fingerprint !== print) throw new MosaicError('idempotency_key_reused')
    if (row.status === 'done') return { fresh: false, response: stored(row) } as const
    if (!row.abandoned) return 'busy'
    // Its request died: if it got as far as placing the order, that answer stands; else start over.
    if (row.response_status !== null) {
      await tx.query(`update idempotency_keys set status = 'done' where tenant_id = $1 and user_id = $2 and key = $3`, [
        scope.tenantId,
        scope.userId,
        scope.key,
      ])
      return { fresh: false, response: stored(row) } as const
    }
    await tx.query(
      `update idempotency_keys set locked_until = now() + $4::int * interval '1 millisecond' where tenant_id = $1 and user_id = $2 and key = $3`,
      [scope.tenantId, scope.userId, scope.key, lockMs],
    )
    return { fresh: true } as const
  })
}

/** Takes the key for this request, or gives the stored answer of its first use. */
export async function claim(
  db: ServiceDb<OrdersContract>,
  scope: Scope,
  print: string,
  options: IdempotencyOptions,
): Promise<Claim> {
  const until = Date.now() + options.waitMs
  for (let pause = 10; ; pause = Math.min(pause * 2, 100)) {
    const outcome = await tryClaim(db, scope, print, options)
    if (outcome !== 'busy') return outcome
    if (Date.now() >= until) throw new MosaicError('idempotency_key_in_flight', { retryAfter: 1 })
    await sleep(pause)
  }
}

/**
 * Records the answer (in the transaction that placed the order). With `holdMs` the key stays in
 * flight that much longer (a `Prefer: wait` still running); if that request dies, this answer stands.
 */
export async function record(
  tx: ServiceTx<OrdersContract> | Sql,
  scope: Scope,
  orderId: string,
  response: StoredResponse,
  holdMs?: number,
): Promise<void> {
  await tx.query(
    `update idempotency_keys set status = $4, order_id = $5, response_status = $6, response_body = $7, location = $8,
      locked_until = now() + $9::int * interval '1 millisecond'
    where tenant_id = $1 and user_id = $2 and key = $3`,
    [
      scope.tenantId,
      scope.userId,
      scope.key,
      holdMs === undefined ? 'done' : 'in_flight',
      orderId,
      response.status,
      JSON.stringify(response.body),
      response.location,
      holdMs ?? 0,
    ],
  )
}

/** Frees the key of a request that failed before placing anything: the client may fix it and retry. */
export async function forget(db: Sql, scope: Scope): Promise<void> {
  await db.query(
    `delete from idempotency_keys where tenant_id = $1 and user_id = $2 and key = $3 and status = 'in_flight' and response_status is null`,
    [scope.tenantId, scope.userId, scope.key],
  )
}

export async function sweepExpired(db: Sql): Promise<number> {
  return (await db.query(`delete from idempotency_keys where expires_at < now() returning key`)).length
}
