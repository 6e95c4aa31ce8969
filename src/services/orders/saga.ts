// Runs one checkout saga while holding its lease: asks the plan what is next, calls the other
// service with an idempotency key made of the order id and the step and a deadline, records the
// outcome as an event, and repeats. A transient failure schedules a retry with backoff in the
// saga's row (so it survives a crash); the row's deadline turns a stuck checkout into compensation.
// Every permanent answer the other services can give is turned into a fact or a reason to
// compensate here; anything else is unexpected, logged as an error and retried at the longest delay.
import type { Logger } from 'pino'
import {
  MosaicError,
  isRetryable,
  toAmount,
  backoffMs,
  traced,
  type Client,
  type TraceContext,
} from '../../kit/index.ts'
import type { CatalogContract } from '../catalog/contract.ts'
import type { PaymentsContract } from '../payments/contract.ts'
import { load } from './event-store.ts'
import { orderReducer } from './views.ts'
import { runCommand, type Db } from './commands.ts'
import { plan, pastPivot, FORWARD, type Step } from './saga-plan.ts'
import type { Command, OrderState, Reason } from './order.ts'
import { sagaStepDuration, sagasFinished } from './metrics.ts'

export interface SagaSettings {
  readonly stepTimeoutMs: number
  readonly retryBaseMs: number
  readonly retryMaxMs: number
  readonly leaseMs: number
}

export interface SagaDeps {
  readonly db: Db
  readonly log: Logger
  readonly catalog: Client<CatalogContract>
  readonly payments: Client<PaymentsContract>
  readonly settings: SagaSettings
  /** The order reached its final state (for `Prefer: wait`). */
  readonly settled: (orderId: string) => void
}

export interface SagaRow {
  order_id: string
  phase: 'forward' | 'compensate' | 'done'
  reached: number
  reason: Reason | null
  detail: string | null
  payment_token: string
  attempts: number
  deadline_at: Date
  /** The placing request's trace (saga.ts continues it; see runner.ts). */
  trace_context: TraceContext | null
}

class LeaseLost extends Error {}

const view = (saga: SagaRow) => ({ phase: saga.phase, reached: saga.reached, deadlineAt: saga.deadline_at.getTime() })

type Outcome = { readonly record: Command } | { readonly compensate: Reason; readonly detail: string | null }

/**
 * A definitive no from the other service: not retryable and the caller's fault or the resource's
 * state (4xx), so asking again gets the same answer. A 5xx or a non-Mosaic error says nothing about
 * whether the call acted: that is retried, never compensated on.
 */
const refused = (error: unknown): error is MosaicError =>
  error instanceof MosaicError && !error.retryable && error.status < 500

/** Calls the service a step needs and turns its answer into the fact to record (or a reason to give up). */
async function perform(
  step: Exclude<Step, 'confirm' | 'cancel'>,
  order: OrderState,
  saga: SagaRow,
  deps: SagaDeps,
  timeoutMs: number,
): Promise<Outcome> {
  const { orderId } = order
  const key = `${orderId}:${step}`
  const options = { timeoutMs }
  switch (step) {
    case 'reserve': {
      try {
        const reservation = await deps.catalog.reserveStock(
          { orderId, items: order.items.map((l) => ({ productId: l.productId, quantity: l.quantity })) },
          options,
        )
        if (reservation.status === 'released')
          return { compensate: 'timeout', detail: 'the stock was released before it was reserved' }
        return { record: { type: 'recordReserved' } }
      } catch (error) {
        if (error instanceof MosaicError && (error.code === 'out_of_stock' || error.code === 'not_found'))
          return { compensate: 'out_of_stock', detail: error.message }
        throw error
      }
    }
    case 'authorize': {
      const payment = await deps.payments.authorizePayment(
        {
          key,
          orderId,
          userId: order.userId,
          tenantId: order.tenantId,
          amount: toAmount(BigInt(order.totalMinor), order.currency),
          currency: order.currency,
          token: saga.payment_token,
        },
        options,
      )
      if (payment.status === 'declined')
        return { record: { type: 'recordDeclined', reason: payment.declineReason ?? 'card_declined' } }
      if (payment.status === 'voided')
        return { compensate: 'timeout', detail: 'the payment was voided before it was authorized' }
      if (payment.status !== 'authorized' && payment.status !== 'captured')
        throw new MosaicError('unavailable', {
          detail: `payment of order ${orderId} is ${payment.status}, not authorized yet`,
        })
      return { record: { type: 'recordAuthorized', paymentId: payment.id } }
    }
    // Past the pivot a refusal compensates (the stock comes back, the authorization is voided);
    // a delay does not: the call is retried until it answers.
    case 'commit':
      try {
        await deps.catalog.commitStock({ orderId }, options)
      } catch (error) {
        // reservation_closed (the stock was released meanwhile), not_found (no stock held), ...
        if (refused(error))
          return {
            compensate: 'out_of_stock',
            detail: `the stock could not be committed (${error.code}): ${error.message}`,
          }
        throw error
      }
      return { record: { type: 'recordCommitted' } }
    case 'capture': {
      try {
        const payment = await deps.payments.capturePayment({ key, orderId }, options)
        return { record: { type: 'recordCaptured', paymentId: payment.id } }
      } catch (error) {
        // The provider refused the capture, or payments says the payment cannot be captured (payment_state).
        if (refused(error))
          return { compensate: 'payment_declined', detail: `the capture was refused (${error.code}): ${error.message}` }
        throw error
      }
    }
    case 'refund':
      try {
        await deps.payments.refundPayment({ key, orderId }, options)
      } catch (error) {
        // Refunded in full already (by staff, say): the money is back, which is all this step wants.
        if (!(error instanceof MosaicError && error.code === 'refund_exceeds_capture')) throw error
      }
      return { record: { type: 'recordRefunded' } }
    case 'void':
      try {
        await deps.payments.voidPayment({ key, orderId }, options)
      } catch (error) {
        // Only a captured (or refunded) payment cannot be voided: a capture started before a crash
        // acted though its answer was lost. Recording it makes the plan refund instead.
        if (
          error instanceof MosaicError &&
          error.code === 'payment_state' &&
          order.committed &&
          order.paymentId !== null
        ) {
          return { record: { type: 'recordCaptured', paymentId: order.paymentId } }
        }
        throw error
      }
      return { record: { type: 'recordVoided' } }
    case 'release':
      try {
        await deps.catalog.releaseStock({ orderId }, options)
      } catch (error) {
        // Closed already (a catalog that does not take committed stock back says so too): nothing is held.
        if (!(error instanceof MosaicError && error.code === 'reservation_closed')) throw error
      }
      return { record: { type: 'recordReleased' } }
  }
}

/** The fact a step that calls no other service records (its outcome is known without asking), if `next` is one. */
function localStep(next: ReturnType<typeof plan>, saga: SagaRow): Command | undefined {
  if (next.kind !== 'step') return undefined
  if (next.step === 'confirm') return { type: 'confirm' }
  if (next.step === 'cancel') return { type: 'cancel', reason: saga.reason ?? 'timeout', detail: saga.detail }
  return undefined
}

/** Extends our lease (and notes how far forward we went) or finds it lost to another runner. */
async function renew(deps: SagaDeps, saga: SagaRow, owner: string, reached: number): Promise<boolean> {
  const rows = await deps.db.query(
    `update sagas set reached = greatest(reached, $3), lease_until = now() + $4::int * interval '1 millisecond', updated_at = now()
    where order_id = $1 and lease_owner = $2 returning order_id`,
    [saga.order_id, owner, reached, deps.settings.leaseMs],
  )
  return rows.length > 0
}

/** Runs the saga until it is finished or waiting for a retry; never throws (failures are scheduled). */
export async function runSaga(deps: SagaDeps, saga: SagaRow, owner: string): Promise<void> {
  const { db, log, settings } = deps
  const orderId = saga.order_id
  // Loaded once: after that, each step's command hands back the state it committed (loaded and
  // appended to inside its transaction), so reloading the stream before every step only repeated
  // the read. Anything appended meanwhile (a cancel request) is in the next command's own load.
  let order = await load(db, orderId, orderReducer)
  // What the last step's transaction already wrote for the next one, saving a statement each:
  // the next step noted as started with the lease renewed (as `renew` does), or the saga done.
  let renewedFor: Step | undefined
  let doneInTx = false
  for (;;) {
    const next = plan(order, view(saga), Date.now())
    if (next.kind === 'finish') {
      const rows = doneInTx
        ? [orderId]
        : await db.query(
            `update sagas set phase = 'done', lease_owner = null, lease_until = null, updated_at = now() where order_id = $1 and lease_owner = $2 and phase <> 'done' returning order_id`,
            [orderId, owner],
          )
      if (rows.length > 0) sagasFinished.inc({ outcome: saga.phase === 'compensate' ? 'compensated' : 'confirmed' })
      deps.settled(orderId)
      return
    }
    if (next.kind === 'compensate') {
      log.info({ orderId, reason: next.reason }, 'checkout compensating')
      const rows = await db.query(
        `update sagas set phase = 'compensate', reason = $3, detail = $4, attempts = 0, updated_at = now()
        where order_id = $1 and lease_owner = $2 returning order_id`,
        [orderId, owner, next.reason, next.detail],
      )
      if (rows.length === 0) return
      Object.assign(saga, { phase: 'compensate', reason: next.reason, detail: next.detail, attempts: 0 })
      renewedFor = undefined
      continue
    }
    const step = next.step
    const rank = FORWARD.indexOf(step) + 1
    // Noted before the call: if we crash during it, compensation knows the call may have acted.
    if (renewedFor !== step && !(await renew(deps, saga, owner, rank))) return
    renewedFor = undefined
    saga.reached = Math.max(saga.reached, rank)
    const started = performance.now()
    let stepOutcome = 'retry'
    try {
      // One span per attempt at a step: the call, and the fact it recorded (and the events that published).
      const compensating = await traced(
        `checkout ${step}`,
        { attributes: { 'order.id': orderId, 'saga.step': step, 'saga.phase': saga.phase } },
        async () => {
          let outcome: Outcome
          if (step === 'confirm' || step === 'cancel') outcome = { record: localStep(next, saga)! }
          else {
            // Before the pivot a call may not outlive the saga's deadline; after it there is none.
            const left =
              pastPivot(order, view(saga)) || saga.phase === 'compensate'
                ? Infinity
                : saga.deadline_at.getTime() - Date.now()
            outcome = await perform(step, order, saga, deps, Math.max(1, Math.min(settings.stepTimeoutMs, left)))
          }
          if ('compensate' in outcome) {
            await db.query(
              `update sagas set phase = 'compensate', reason = $3, detail = $4, attempts = 0, updated_at = now() where order_id = $1 and lease_owner = $2`,
              [orderId, owner, outcome.compensate, outcome.detail],
            )
            log.info({ orderId, step, reason: outcome.compensate }, 'checkout compensating')
            Object.assign(saga, {
              phase: 'compensate',
              reason: outcome.compensate,
              detail: outcome.detail,
              attempts: 0,
            })
            return true
          }
          let after: ReturnType<typeof plan> = { kind: 'finish' }
          order = await runCommand(
            db,
            orderId,
            // A next step that calls nobody (confirm, cancel) is decided in this append too: its
            // outcome is known now, and a transaction of its own would only repeat this one's statements.
            { first: outcome.record, next: (state) => localStep(plan(state, view(saga), Date.now()), saga) },
            async (tx, state) => {
              // What comes next is known now: note it in this transaction rather than in one of its own
              // (a forward step as started, as `renew` would just before the call; or the saga as done).
              after = plan(state, view(saga), Date.now())
              const nextRank = after.kind === 'step' ? FORWARD.indexOf(after.step) + 1 : 0
              // Only the lease holder writes: a runner that lost its lease (it was too slow) must not
              // record next to the one that took over; the new holder repeats the call (same key) anyway.
              const held = await tx.query(
                `update sagas set attempts = 0, last_error = null, reached = greatest(reached, $3), updated_at = now(),
                  phase = case when $5 then 'done' else phase end,
                  lease_owner = case when $5 then null else lease_owner end,
                  lease_until = case when $5 then null else now() + $4::int * interval '1 millisecond' end
                where order_id = $1 and lease_owner = $2 returning order_id`,
                [orderId, owner, nextRank, settings.leaseMs, after.kind === 'finish'],
              )
              if (held.length === 0) throw new LeaseLost()
            },
            order,
          )
          // `after` is from the attempt that committed (a retried command plans again).
          const planned = after as ReturnType<typeof plan>
          if (planned.kind === 'step') {
            renewedFor = planned.step
            saga.reached = Math.max(saga.reached, FORWARD.indexOf(planned.step) + 1)
          }
          doneInTx = planned.kind === 'finish'
          return false
        },
      )
      stepOutcome = compensating ? 'compensate' : 'ok'
      if (compensating) continue
      saga.attempts = 0
    } catch (error) {
      if (error instanceof LeaseLost) return
      saga.attempts++
      const policy = { baseDelayMs: settings.retryBaseMs, maxDelayMs: settings.retryMaxMs }
      if (isRetryable(error)) {
        log.info({ orderId, step, attempt: saga.attempts, err: error }, 'checkout step failed; retrying')
      } else {
        // No fact and no reason to compensate can be drawn from it (a bug here or there, a refusal
        // nobody foresaw): it is retried, slowly, until someone looks. Never silently.
        log.error(
          { orderId, step, phase: saga.phase, attempt: saga.attempts, err: error },
          'checkout step failed unexpectedly; retrying at the longest delay',
        )
      }
      const delay = isRetryable(error) ? backoffMs(saga.attempts, policy) : backoffMs(Infinity, policy)
      // Before the pivot there is no point waiting past the deadline: compensation starts there.
      const bounded =
        saga.phase === 'forward' && !pastPivot(order, view(saga))
          ? Math.min(Date.now() + delay, saga.deadline_at.getTime())
          : Date.now() + delay
      await db.query(
        `update sagas set attempts = $3, last_error = $4, due_at = $5, lease_owner = null, lease_until = null, updated_at = now()
        where order_id = $1 and lease_owner = $2`,
        [orderId, owner, saga.attempts, String((error as Error)?.message ?? error).slice(0, 500), new Date(bounded)],
      )
      return
    } finally {
      sagaStepDuration.observe({ step, outcome: stepOutcome }, (performance.now() - started) / 1000)
    }
  }
}
