// The payment provider behind the payments service: a card network's gateway in production, the
// simulated one (test tokens) by default. Every call carries an idempotency key and a signal: the
// service repeats a call with the same key after a crash or a retryable failure, and a provider
// must answer the repeat with the first outcome instead of charging again (as Stripe, Adyen and
// Braintree do with their idempotency keys).
import { MosaicError, type Sql } from '../../kit/index.ts'
import { paymentsErrors } from './contract.ts'

export type DeclineReason = 'card_declined' | 'insufficient_funds'

export type AuthorizeResult =
  | { readonly outcome: 'authorized'; readonly reference: string }
  | { readonly outcome: 'declined'; readonly reason: DeclineReason }

export interface MoneyRequest {
  readonly idempotencyKey: string
  readonly amountMinor: bigint
  readonly currency: string
}

export interface PaymentProvider {
  readonly name: string
  /** Holds the amount on the payment method. A decline is an answer; errors are for failures to answer. */
  authorize(request: MoneyRequest & { readonly token: string }, signal: AbortSignal): Promise<AuthorizeResult>
  capture(request: MoneyRequest & { readonly reference: string }, signal: AbortSignal): Promise<void>
  /**
   * Releases the hold made by the authorization with key `authorizationKey`, whether or not its
   * answer ever reached us; releasing nothing (never authorized, declined, already released) is no error.
   */
  void(
    request: { readonly idempotencyKey: string; readonly authorizationKey: string },
    signal: AbortSignal,
  ): Promise<void>
  refund(request: MoneyRequest & { readonly reference: string }, signal: AbortSignal): Promise<void>
}

/** Rejects when `signal` aborts: what a provider call does when its caller gives up. */
function aborted(signal: AbortSignal): MosaicError {
  return new MosaicError('deadline_exceeded', {
    detail: 'the payment provider call was abandoned',
    cause: signal.reason,
  })
}

/** Waits for nothing but the signal: a provider that never answers, without a timer of its own. */
function hangUntilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(aborted(signal))
    else signal.addEventListener('abort', () => reject(aborted(signal)), { once: true })
  })
}

/** What the simulated provider keeps its ledger in: the payments service's database (its own tables). */
export interface LedgerDb extends Sql {
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>
}

export interface SimulatedProvider extends PaymentProvider {
  /** Whether the authorization with key `authorizationKey` holds money now (for tests). */
  held(authorizationKey: string): Promise<boolean>
}

interface AuthorizationRow {
  attempts: number
  outcome: AuthorizeResult['outcome'] | null
  reference: string | null
  decline_reason: DeclineReason | null
}

const toResult = (row: AuthorizationRow): AuthorizeResult | undefined =>
  row.outcome === 'authorized'
    ? { outcome: 'authorized', reference: row.reference! }
    : row.outcome === 'declined'
      ? { outcome: 'declined', reason: row.decline_reason! }
      : undefined

/** The answer a token gives on the given attempt; undefined: this attempt fails (tok_flaky's first), null: no answer (tok_timeout). */
function answer(token: string, attempt: number, key: string): AuthorizeResult | undefined | null {
  if (token === 'tok_timeout') return null
  if (token === 'tok_flaky' && attempt === 1) return undefined
  if (token === 'tok_visa' || token === 'tok_flaky') return { outcome: 'authorized', reference: `sim_${key}` }
  return { outcome: 'declined', reason: token === 'tok_insufficient_funds' ? 'insufficient_funds' : 'card_declined' }
}

/** An answer as the ledger's outcome, reference, decline_reason and held columns (no answer: none of them). */
const answerColumns = (
  result: AuthorizeResult | undefined | null,
): [string | null, string | null, string | null, boolean] => [
  result?.outcome ?? null,
  result?.outcome === 'authorized' ? result.reference : null,
  result?.outcome === 'declined' ? result.reason : null,
  result?.outcome === 'authorized',
]

/**
 * The built-in provider, driven by test tokens: tok_visa authorizes; tok_declined and any other
 * tok_* are declined (card_declined); tok_insufficient_funds is declined for insufficient funds;
 * tok_timeout never answers (until the caller aborts); tok_flaky fails its first attempt with a
 * retryable error and authorizes the next attempt with the same key. It answers repeated keys with
 * the first outcome. Its ledger is kept in tables of its own (migration 004), as the far side of a
 * network would keep it: it outlives our process, so a capture after a crash finds the
 * authorization made before it. Each call is one short transaction of its own (the payments code
 * calls the provider outside its transactions); a key's row lock, or its unique key, makes
 * concurrent calls with the same key take turns.
 */
export function createSimulatedProvider(db: LedgerDb): SimulatedProvider {
  /** Locks the authorization a capture or refund names, or refuses: the simulator never authorized it. */
  const authorizationOf = async (
    tx: Sql,
    reference: string,
  ): Promise<{ key: string; captured_minor: bigint; refunded_minor: bigint }> => {
    const [auth] = await tx.query<{ key: string; captured_minor: bigint; refunded_minor: bigint }>(
      `select key, captured_minor, refunded_minor
      from simulated_provider_authorizations where reference = $1 and outcome = 'authorized' for update`,
      [reference],
    )
    if (!auth) throw new MosaicError('bad_request', { detail: `no authorization ${reference}` })
    return auth
  }
  /** Claims a capture, void or refund key; false when it was carried out already (then nothing is done again). */
  const firstTime = async (
    tx: Sql,
    key: string,
    kind: 'capture' | 'void' | 'refund',
    authorizationKey: string,
    amountMinor = 0n,
  ): Promise<boolean> =>
    (
      await tx.query(
        `insert into simulated_provider_requests (key, kind, authorization_key, amount_minor) values ($1, $2, $3, $4)
      on conflict (key) do nothing returning key`,
        [key, kind, authorizationKey, amountMinor],
      )
    ).length > 0

  return {
    name: 'simulated',
    async held(key) {
      const [row] = await db.query<{ held: boolean }>(
        'select held from simulated_provider_authorizations where key = $1',
        [key],
      )
      return row?.held ?? false
    },

    async authorize({ idempotencyKey: key, token }, signal) {
      if (signal.aborted) throw aborted(signal)
      // A key's first attempt, the usual case: its row made with the answer, one statement and no
      // transaction. A key seen before (its row exists: the simulator deletes none) is locked and
      // looked at, so that concurrent repeats take turns.
      const first = answer(token, 1, key)
      const created = await db.query(
        `insert into simulated_provider_authorizations (key, attempts, outcome, reference, decline_reason, held)
        values ($1, 1, $2, $3, $4, $5) on conflict (key) do nothing returning key`,
        [key, ...answerColumns(first)],
      )
      const decided =
        created.length > 0
          ? first
          : await db.transaction(async (tx) => {
              const [row] = await tx.query<AuthorizationRow>(
                `select attempts, outcome, reference, decline_reason
                from simulated_provider_authorizations where key = $1 for update`,
                [key],
              )
              const earlier = toResult(row!)
              if (earlier) return earlier
              // Counted whatever the attempt brings, so that tok_flaky's second attempt succeeds even after a restart.
              const attempt = row!.attempts + 1
              const result = answer(token, attempt, key)
              await tx.query(
                `update simulated_provider_authorizations set attempts = $2, outcome = $3, reference = $4,
                decline_reason = $5, held = $6, updated_at = now() where key = $1`,
                [key, attempt, ...answerColumns(result)],
              )
              return result
            })
      if (decided === null) return hangUntilAborted(signal)
      if (decided === undefined)
        throw new MosaicError(paymentsErrors.provider_unavailable, {
          detail: 'simulated outage: try again with the same key',
        })
      return decided
    },

    async capture({ idempotencyKey, reference, amountMinor }, signal) {
      if (signal.aborted) throw aborted(signal)
      // What refund does in three statements, in one (a capture is on every order's path): the
      // authorization locked, the key claimed, and the money captured only if the key was new.
      const [auth] = await db.query<{ found: boolean }>(
        `with auth as (
          select key from simulated_provider_authorizations where reference = $1 and outcome = 'authorized' for update
        ), claimed as (
          insert into simulated_provider_requests (key, kind, authorization_key, amount_minor)
          select $2, 'capture', key, $3 from auth on conflict (key) do nothing returning authorization_key
        ), captured as (
          update simulated_provider_authorizations a
          set held = false, captured_minor = a.captured_minor + $3, updated_at = now()
          from claimed where a.key = claimed.authorization_key
        )
        select exists (select 1 from auth) as found`,
        [reference, idempotencyKey, amountMinor],
      )
      if (!auth!.found) throw new MosaicError('bad_request', { detail: `no authorization ${reference}` })
    },

    async void({ idempotencyKey, authorizationKey }, signal) {
      if (signal.aborted) throw aborted(signal)
      // Releasing is harmless to repeat, and releases a hold granted since the first time.
      await db.transaction(async (tx) => {
        await firstTime(tx, idempotencyKey, 'void', authorizationKey)
        await tx.query(
          'update simulated_provider_authorizations set held = false, updated_at = now() where key = $1 and held',
          [authorizationKey],
        )
      })
    },

    async refund({ idempotencyKey, reference, amountMinor }, signal) {
      if (signal.aborted) throw aborted(signal)
      await db.transaction(async (tx) => {
        const auth = await authorizationOf(tx, reference)
        if (!(await firstTime(tx, idempotencyKey, 'refund', auth.key, amountMinor))) return
        if (auth.refunded_minor + amountMinor > auth.captured_minor)
          throw new MosaicError('bad_request', { detail: 'refund exceeds the captured amount' })
        await tx.query(
          `update simulated_provider_authorizations set refunded_minor = refunded_minor + $2, updated_at = now()
          where key = $1`,
          [auth.key, amountMinor],
        )
      })
    },
  }
}
