// What the checkout saga does next, as a pure function of the order's state (the facts, from its
// events) and the saga's row (the phase, how far it ever got, its deadline). The runner runs one
// step, records its outcome as an event, and asks again: a crash anywhere just means asking again.
//
// Forward: reserve stock → authorize payment → commit stock → capture payment → confirm.
// Committing stock is the pivot. Before the commit call is *started*, any failure (or the
// deadline, or the customer) compensates. Once it has been started (it may have acted though its
// answer was lost in a crash) there is no deadline and no turning back on a mere delay: commit and
// capture are retried while they fail retryably (stock and money are mid-flight, the other side is
// just unavailable), and a customer's cancel waits for the confirmation, then refunds and gives
// the stock back. Only a refusal (the reservation closed, the capture refused) compensates past
// the pivot; the saga turns it into the compensate phase, and this function plans the way back.
//
// Compensation runs in reverse: refund a capture (or void an authorization), give the stock back
// (reserved or committed: catalog releases either, so stock = initial − what confirmed orders
// hold), then cancel.
import type { OrderState, Reason } from './order.ts'

export type Step = 'reserve' | 'authorize' | 'commit' | 'capture' | 'confirm' | 'refund' | 'void' | 'release' | 'cancel'

/** `reached` counts forward calls ever started, in this order (a call may act even if its answer is lost). */
export const FORWARD: readonly Step[] = ['reserve', 'authorize', 'commit', 'capture']

export interface SagaView {
  readonly phase: 'forward' | 'compensate' | 'done'
  readonly reached: number
  readonly deadlineAt: number
}

export type Plan =
  | { readonly kind: 'step'; readonly step: Step }
  | { readonly kind: 'compensate'; readonly reason: Reason; readonly detail: string | null }
  | { readonly kind: 'finish' }

/** Past the pivot: the stock is, or may be, committed. */
export const pastPivot = (order: OrderState, saga: SagaView): boolean =>
  order.committed || saga.reached >= FORWARD.indexOf('commit') + 1

export function plan(order: OrderState, saga: SagaView, now: number): Plan {
  if (order.status === 'CANCELLED' || saga.phase === 'done') return { kind: 'finish' }
  if (saga.phase === 'forward') {
    if (order.status === 'CONFIRMED')
      return order.cancelRequested
        ? { kind: 'compensate', reason: 'cancelled_by_customer', detail: null }
        : { kind: 'finish' }
    if (!pastPivot(order, saga)) {
      if (order.declined !== null) return { kind: 'compensate', reason: 'payment_declined', detail: order.declined }
      if (order.cancelRequested) return { kind: 'compensate', reason: 'cancelled_by_customer', detail: null }
      if (now >= saga.deadlineAt)
        return { kind: 'compensate', reason: 'timeout', detail: 'the checkout did not complete in time' }
    }
    if (!order.reserved) return { kind: 'step', step: 'reserve' }
    if (!order.authorized) return { kind: 'step', step: 'authorize' }
    if (!order.committed) return { kind: 'step', step: 'commit' }
    if (!order.captured) return { kind: 'step', step: 'capture' }
    return { kind: 'step', step: 'confirm' }
  }
  // Compensation, in reverse order of the forward steps.
  if (order.captured && !order.refunded) return { kind: 'step', step: 'refund' }
  if (!order.captured && saga.reached >= 2 && !order.voided && order.declined === null)
    return { kind: 'step', step: 'void' }
  if (saga.reached >= 1 && !order.released) return { kind: 'step', step: 'release' }
  return { kind: 'step', step: 'cancel' }
}
