// capturePayment, voidPayment, refundPayment: each claims its key and checks the payment's state
// in one transaction (the payment row locked, so concurrent operations on it take turns), asks the
// provider outside any transaction, and applies the change with its event in a second one. A key
// whose provider call failed retryably stays pending: repeating it asks the provider again with the
// same key. A refusal is stored under its key, and replayed for a refund, but a refused capture or
// void is asked again when repeated (askAgain). A pending refund counts against what is left to refund, so concurrent refunds never
// exceed the captured amount.
import { createHash } from 'node:crypto'
import { MosaicError, codes, toMinor, toAmount, type CallContext, type ServiceTx, type Sql } from '../../kit/index.ts'
import { paymentsErrors, type PaymentsContract } from './contract.ts'
import { paymentColumns, toPayment, lockByOrder, lockById, eventOf, type PaymentRow, type PaymentOut } from './rows.ts'
import type { PaymentsRuntime } from './authorize.ts'

type Kind = 'capture' | 'void' | 'refund'
type Ctx = CallContext<PaymentsContract>

export interface OperationRow {
  key: string
  kind: 'authorize' | Kind
  payment_id: string
  status: 'pending' | 'done' | 'failed'
  amount_minor: bigint
  response: PaymentOut | null
  error: string | null
  fingerprint: string | null
}

export interface OperationRequest {
  readonly key: string
  readonly orderId?: string
  /** For requests from outside (the refund route): the payment named in the URL. */
  readonly paymentId?: string
  /** Refunds: the decimal amount; the whole remainder when absent. */
  readonly amount?: number
  /** For keys from outside: what was asked, so a reused key with another request is refused. */
  readonly fingerprint?: string
}

/** Stores an operation's outcome under its key and returns it. */
export async function finishOperation<T extends PaymentOut | null>(tx: Sql, key: string, response: T): Promise<T> {
  await tx.query(
    `update payment_operations set status = 'done', response = $2::text::jsonb, updated_at = now() where key = $1`,
    [key, JSON.stringify(response)],
  )
  return response
}

type Claim = { done: PaymentOut | null } | { drive: OperationRow; row: PaymentRow }

export async function operate(
  kind: Kind,
  request: OperationRequest,
  ctx: Ctx,
  rt: PaymentsRuntime,
): Promise<PaymentOut | null> {
  const claimed = await ctx.db.transaction((tx) => claim(tx, kind, request))
  if ('done' in claimed) return claimed.done
  const { drive: op, row } = claimed
  const signal = AbortSignal.any([ctx.signal, rt.stopping])
  try {
    const money = {
      idempotencyKey: op.key,
      amountMinor: op.amount_minor,
      currency: row.currency!,
      reference: row.provider_ref ?? '',
    }
    if (kind === 'capture') await rt.provider.capture(money, signal)
    else if (kind === 'refund') await rt.provider.refund(money, signal)
    else await rt.provider.void({ idempotencyKey: op.key, authorizationKey: row.id }, signal)
  } catch (error) {
    const failure =
      error instanceof MosaicError ? error : new MosaicError(paymentsErrors.provider_unavailable, { cause: error })
    // A refusal is recorded (it no longer holds the payment busy nor counts against what is left to
    // refund); no answer is not, and the key stays pending. Either way a repeat may ask again.
    if (!failure.retryable) await ctx.db.transaction((tx) => fail(tx, op.key, failure))
    throw failure
  }
  return ctx.db.transaction((tx) => apply(tx, kind, op.key))
}

async function claim(tx: ServiceTx<PaymentsContract>, kind: Kind, request: OperationRequest): Promise<Claim> {
  const [op] = await tx.query<OperationRow>('select * from payment_operations where key = $1 for update', [request.key])
  if (op) {
    const row = await lockById(tx, op.payment_id)
    if (
      op.kind !== kind ||
      (request.orderId !== undefined && row.order_id !== request.orderId) ||
      (request.paymentId !== undefined && row.id !== request.paymentId) ||
      (op.fingerprint ?? undefined) !== request.fingerprint
    ) {
      throw new MosaicError(codes.idempotency_key_reused, { detail: `key ${request.key} was used for another request` })
    }
    if (op.status === 'done') return { done: op.response }
    if (op.status === 'failed') {
      if (kind === 'refund')
        throw new MosaicError(op.error!, { detail: `the first request with key ${request.key} failed` })
      return askAgain(tx, kind, op, row)
    }
    return { drive: op, row }
  }

  const row =
    request.paymentId !== undefined
      ? (
          await tx.query<PaymentRow>(`select ${paymentColumns} from payments where id = $1 for update`, [
            request.paymentId,
          ])
        )[0]
      : await lockByOrder(tx, request.orderId!)
  const insert = async (payment: PaymentRow, status: 'pending' | 'done', amountMinor = 0n): Promise<OperationRow> => {
    const [created] = await tx.query<OperationRow>(
      `insert into payment_operations (key, kind, payment_id, status, amount_minor, fingerprint)
      values ($1, $2, $3, $4, $5, $6) returning *`,
      [request.key, kind, payment.id, status, amountMinor, request.fingerprint ?? null],
    )
    return created!
  }
  const done = async (payment: PaymentRow, response: PaymentOut | null): Promise<Claim> => {
    await insert(payment, 'pending')
    return { done: await finishOperation(tx, request.key, response) }
  }

  if (kind === 'void') {
    if (!row) {
      // Nothing authorized yet (the authorization may still be on its way): leave a tombstone.
      const [tombstone] = await tx.query<PaymentRow>(
        `insert into payments (id, order_id, status) values ($1, $2, 'voided') returning ${paymentColumns}`,
        [`pay_${createHash('sha256').update(request.orderId!).digest('hex').slice(0, 32)}`, request.orderId],
      )
      return done(tombstone!, null)
    }
    if (row.user_id === null) return done(row, null)
    if (row.status === 'voided' || row.status === 'declined') return done(row, toPayment(row))
    if (row.status === 'pending') {
      // The authorization is still with the provider (or timed out): from now on its answer cannot
      // hold money here, and the provider is told to release whatever it may hold.
      const [voided] = await tx.query<PaymentRow>(
        `update payments set status = 'voided', updated_at = now() where id = $1 returning ${paymentColumns}`,
        [row.id],
      )
      await tx.publish('payment.voided', eventOf(voided!), { subject: row.id })
      return { drive: await insert(voided!, 'pending'), row: voided! }
    }
    if (row.status !== 'authorized')
      throw new MosaicError(paymentsErrors.payment_state, {
        detail: `payment ${row.id} is ${row.status}: refund it instead`,
      })
    await notBusy(tx, row)
    return { drive: await insert(row, 'pending'), row }
  }

  if (!row || row.user_id === null)
    throw new MosaicError('not_found', { detail: `no payment for ${request.paymentId ?? `order ${request.orderId}`}` })
  if (kind === 'capture') {
    if (row.status === 'captured' || row.status === 'refunded' || row.status === 'partially_refunded')
      return done(row, toPayment(row))
    if (row.status !== 'authorized')
      throw new MosaicError(paymentsErrors.payment_state, {
        detail: `payment ${row.id} is ${row.status}, not authorized`,
      })
    await notBusy(tx, row)
    return { drive: await insert(row, 'pending', row.amount_minor!), row }
  }

  if (row.status !== 'captured' && row.status !== 'partially_refunded' && row.status !== 'refunded') {
    throw new MosaicError(paymentsErrors.payment_state, {
      detail: `payment ${row.id} is ${row.status}: only captured money is refunded`,
    })
  }
  const [{ pending }] = (await tx.query<{ pending: bigint }>(
    `select coalesce(sum(amount_minor), 0)::bigint as pending from payment_operations
    where payment_id = $1 and kind = 'refund' and status = 'pending'`,
    [row.id],
  )) as [{ pending: bigint }]
  const left = row.captured_minor - row.refunded_minor - BigInt(pending)
  const amountMinor = request.amount === undefined ? left : toMinor(request.amount, row.currency!, '/amount')
  if (request.amount !== undefined && amountMinor === 0n) {
    throw new MosaicError('validation_failed', {
      issues: [{ path: '/amount', code: 'minimum', message: 'must be more than 0' }],
    })
  }
  if (amountMinor > left || left === 0n) {
    throw new MosaicError(paymentsErrors.refund_exceeds_capture, {
      detail: `${toAmount(left, row.currency!)} ${row.currency} is left to refund`,
    })
  }
  return { drive: await insert(row, 'pending', amountMinor), row }
}

/**
 * A capture or void the provider refused is asked again when its key is repeated, not answered
 * with the stored refusal: its caller (the checkout saga, past its point of no return for a
 * capture) can only repeat the same key, and the refusal may have had a passing cause (a provider
 * that had lost track of the authorization, a fault fixed since). The provider is idempotent by
 * key, so asking again never captures twice; a lasting refusal is simply refused again. (A refused
 * refund stands: its amount went back to what is left to refund, and another key asks again.)
 */
async function askAgain(tx: Sql, kind: 'capture' | 'void', op: OperationRow, row: PaymentRow): Promise<Claim> {
  if (
    kind === 'capture' &&
    (row.status === 'captured' || row.status === 'refunded' || row.status === 'partially_refunded')
  ) {
    return { done: await finishOperation(tx, op.key, toPayment(row)) }
  }
  // A void may have marked the payment voided before the provider refused to release the hold.
  const allowed =
    kind === 'capture' ? row.status === 'authorized' : row.status === 'authorized' || row.status === 'voided'
  if (!allowed)
    throw new MosaicError(paymentsErrors.payment_state, {
      detail: `payment ${row.id} is ${row.status}: the ${kind} refused with key ${op.key} is not asked again`,
    })
  await notBusy(tx, row)
  const [again] = await tx.query<OperationRow>(
    `update payment_operations set status = 'pending', error = null, updated_at = now() where key = $1 returning *`,
    [op.key],
  )
  return { drive: again!, row }
}

/** A second capture or void while one waits for the provider would race it there. */
async function notBusy(tx: Sql, row: PaymentRow): Promise<void> {
  const busy = await tx.query(
    `select key from payment_operations where payment_id = $1 and status = 'pending' and kind in ('capture', 'void')`,
    [row.id],
  )
  if (busy.length > 0)
    throw new MosaicError(paymentsErrors.payment_busy, { detail: `payment ${row.id} has an operation in progress` })
}

async function fail(tx: Sql, key: string, error: MosaicError): Promise<void> {
  await tx.query(
    `update payment_operations set status = 'failed', error = $2, updated_at = now() where key = $1 and status = 'pending'`,
    [key, error.code],
  )
}

export const refundIdOf = (key: string): string => `rf_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`

async function apply(tx: ServiceTx<PaymentsContract>, kind: Kind, key: string): Promise<PaymentOut | null> {
  const [op] = await tx.query<OperationRow>('select * from payment_operations where key = $1 for update', [key])
  // Another attempt with this key got here first.
  if (op!.status === 'done') return op!.response
  const id = op!.payment_id
  // A capture or a refund changes the payment whatever its state (the claim checked it): the update
  // locks the row itself. A void looks first.
  let updated: PaymentRow
  if (kind === 'capture') {
    ;[updated] = (await tx.query<PaymentRow>(
      `update payments set status = 'captured', captured_minor = amount_minor, updated_at = now()
      where id = $1 returning ${paymentColumns}`,
      [id],
    )) as [PaymentRow]
    await tx.publish('payment.captured', eventOf(updated, updated.captured_minor), { subject: id })
  } else if (kind === 'void') {
    const row = await lockById(tx, id)
    updated = row
    if (row.status === 'authorized') {
      ;[updated] = (await tx.query<PaymentRow>(
        `update payments set status = 'voided', updated_at = now() where id = $1 returning ${paymentColumns}`,
        [row.id],
      )) as [PaymentRow]
      await tx.publish('payment.voided', eventOf(updated), { subject: row.id })
    }
  } else {
    ;[updated] = (await tx.query<PaymentRow>(
      `update payments set refunded_minor = refunded_minor + $2,
      status = case when refunded_minor + $2 = captured_minor then 'refunded' else 'partially_refunded' end, updated_at = now()
      where id = $1 returning ${paymentColumns}`,
      [id, op!.amount_minor],
    )) as [PaymentRow]
    await tx.publish(
      'payment.refunded',
      {
        ...eventOf(updated, op!.amount_minor),
        refundId: refundIdOf(key),
        refunded: toAmount(updated.refunded_minor, updated.currency!),
      },
      { subject: id },
    )
  }
  return finishOperation(tx, key, toPayment(updated))
}
