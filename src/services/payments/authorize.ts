// authorizePayment: one payment per order, whoever asks and however often. The order's payment is
// claimed in a transaction ('pending', with a lease until the claimer's deadline) before the
// provider is asked, outside any transaction; the answer is recorded in a second transaction
// together with its event. Concurrent callers of the same order wait for that answer (in this
// process on the same promise, across processes by reading the row), and take over only when the
// lease has run out (the claimer crashed, timed out or failed retryably): the provider call is
// keyed by the payment id, so taking over never charges twice.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { MosaicError, codes, toMinor, type CallContext, type ServiceTx, type Static } from '../../kit/index.ts'
import { paymentsErrors, type paymentsContract, type PaymentsContract } from './contract.ts'
import type { PaymentProvider, AuthorizeResult } from './provider.ts'
import { paymentColumns, toPayment, lockById, eventOf, type PaymentRow, type PaymentOut } from './rows.ts'
import { finishOperation, type OperationRow } from './operations.ts'

type Input = Static<typeof paymentsContract.actions.authorizePayment.input>
type Ctx = CallContext<PaymentsContract>

export interface PaymentsRuntime {
  readonly provider: PaymentProvider
  /** Aborted when the service stops: provider calls in flight are abandoned, none outlives the service. */
  readonly stopping: AbortSignal
  /** Authorizations this process is driving, by payment id: concurrent callers share the answer. */
  readonly inFlight: Map<string, Promise<PaymentOut>>
}

const POLL_MS = 25

type Step = { done: PaymentOut } | { drive: PaymentRow } | { wait: string }

export async function authorizePayment(input: Input, ctx: Ctx, rt: PaymentsRuntime): Promise<PaymentOut> {
  const amountMinor = toMinor(input.amount, input.currency, '/amount')
  for (;;) {
    if (Date.now() >= ctx.deadline)
      throw new MosaicError('deadline_exceeded', {
        detail: `payment of order ${input.orderId} still waits for the provider`,
      })
    const step = await ctx.db.transaction((tx) => claim(tx, input, amountMinor, ctx.deadline))
    if ('done' in step) return step.done
    if ('drive' in step) return drive(step.drive, input, ctx, rt)
    const flight = rt.inFlight.get(step.wait)
    if (flight) return flight
    await sleep(POLL_MS, undefined, { signal: AbortSignal.any([ctx.signal, rt.stopping]) }).catch(() => {})
  }
}

async function claim(
  tx: ServiceTx<PaymentsContract>,
  input: Input,
  amountMinor: bigint,
  deadline: number,
): Promise<Step> {
  const [op] = await tx.query<OperationRow>('select * from payment_operations where key = $1 for update', [input.key])
  if (op && op.kind !== 'authorize')
    throw new MosaicError(codes.idempotency_key_reused, { detail: `key ${input.key} was used for ${op.kind}` })
  if (op?.status === 'done') return { done: op.response as PaymentOut }

  const inserted = await tx.query<PaymentRow>(
    `insert into payments (id, order_id, user_id, tenant_id, status, amount_minor, currency, lease_until)
    values ($1, $2, $3, $4, 'pending', $5, $6, to_timestamp($7::double precision / 1000))
    on conflict (order_id) do nothing returning ${paymentColumns}`,
    [`pay_${randomUUID()}`, input.orderId, input.userId, input.tenantId, amountMinor, input.currency, deadline],
  )
  let row =
    inserted[0] ??
    (
      await tx.query<PaymentRow>(`select ${paymentColumns} from payments where order_id = $1 for update`, [
        input.orderId,
      ])
    )[0]!
  if (op && op.payment_id !== row.id)
    throw new MosaicError(codes.idempotency_key_reused, { detail: `key ${input.key} was used for another order` })
  if (!op)
    await tx.query(
      `insert into payment_operations (key, kind, payment_id, status) values ($1, 'authorize', $2, 'pending')`,
      [input.key, row.id],
    )

  if (row.user_id === null) {
    // Voided before it was ever authorized: take the details, hold nothing.
    ;[row] = await tx.query<PaymentRow>(
      `update payments set user_id = $2, tenant_id = $3, amount_minor = $4, currency = $5, updated_at = now()
      where id = $1 returning ${paymentColumns}`,
      [row.id, input.userId, input.tenantId, amountMinor, input.currency],
    )
    row = row!
  } else if (
    row.user_id !== input.userId ||
    row.tenant_id !== input.tenantId ||
    row.amount_minor !== amountMinor ||
    row.currency !== input.currency
  ) {
    throw new MosaicError('conflict', {
      detail: `order ${input.orderId} already has a payment for another customer or amount`,
    })
  }
  if (row.status !== 'pending') return { done: await finishOperation(tx, input.key, toPayment(row)) }
  if (inserted.length > 0) return { drive: row }
  // A lease that ran out means nobody is driving it any more: take it over.
  const [taken] = await tx.query<PaymentRow>(
    `update payments set lease_until = to_timestamp($2::double precision / 1000)
    where id = $1 and lease_until <= now() returning ${paymentColumns}`,
    [row.id, deadline],
  )
  return taken ? { drive: taken } : { wait: row.id }
}

function drive(row: PaymentRow, input: Input, ctx: Ctx, rt: PaymentsRuntime): Promise<PaymentOut> {
  const flight = (async () => {
    let result: AuthorizeResult
    try {
      result = await rt.provider.authorize(
        { idempotencyKey: row.id, token: input.token, amountMinor: row.amount_minor!, currency: row.currency! },
        AbortSignal.any([ctx.signal, rt.stopping]),
      )
    } catch (error) {
      // No answer is not an outcome: end the lease so that the next attempt takes over at once.
      await ctx.db.transaction((tx) =>
        tx.query(`update payments set lease_until = now() where id = $1 and status = 'pending'`, [row.id]),
      )
      if (error instanceof MosaicError) throw error
      throw new MosaicError(paymentsErrors.provider_unavailable, { cause: error })
    }
    const recorded = await ctx.db.transaction((tx) => record(tx, row.id, input.key, result))
    if (recorded.lateHold) await releaseLateHold(row.id, ctx, rt)
    return recorded.payment
  })()
  rt.inFlight.set(row.id, flight)
  // Waiters get the same rejection; this handler keeps none for itself.
  flight
    .catch(() => {})
    .finally(() => {
      if (rt.inFlight.get(row.id) === flight) rt.inFlight.delete(row.id)
    })
  return flight
}

async function record(
  tx: ServiceTx<PaymentsContract>,
  id: string,
  key: string,
  result: AuthorizeResult,
): Promise<{ payment: PaymentOut; lateHold: boolean }> {
  // The answer recorded if the payment still waits for it (the usual case, one statement); if not,
  // it was voided while the provider was still deciding (the caller had given up): whatever the
  // provider held must be released, and the void stays the outcome.
  const [updated] =
    result.outcome === 'authorized'
      ? await tx.query<PaymentRow>(
          `update payments set status = 'authorized', provider_ref = $2, updated_at = now()
          where id = $1 and status = 'pending' returning ${paymentColumns}`,
          [id, result.reference],
        )
      : await tx.query<PaymentRow>(
          `update payments set status = 'declined', decline_reason = $2, updated_at = now()
          where id = $1 and status = 'pending' returning ${paymentColumns}`,
          [id, result.reason],
        )
  if (!updated) {
    const row = await lockById(tx, id)
    return { payment: await finishOperation(tx, key, toPayment(row)), lateHold: result.outcome === 'authorized' }
  }
  if (result.outcome === 'authorized') await tx.publish('payment.authorized', eventOf(updated), { subject: id })
  else await tx.publish('payment.declined', { ...eventOf(updated), reason: result.reason }, { subject: id })
  return { payment: await finishOperation(tx, key, toPayment(updated)), lateHold: false }
}

async function releaseLateHold(id: string, ctx: Ctx, rt: PaymentsRuntime): Promise<void> {
  try {
    await rt.provider.void({ idempotencyKey: `${id}:late`, authorizationKey: id }, rt.stopping)
    ctx.log.warn({ paymentId: id }, 'an authorization answered after its payment was voided: released')
  } catch (err) {
    ctx.log.error(
      { err, paymentId: id },
      'an authorization answered after its payment was voided and could not be released',
    )
  }
}
