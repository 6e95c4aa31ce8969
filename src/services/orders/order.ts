// The order aggregate as pure functions: `decide` turns a command into events (or refuses it),
// `evolve` folds one event into the state. No I/O here, so the state machine can be tested on
// its own (test/orders/state-machine.test.ts) and the same code rebuilds the read model.
import { MosaicError, type Static } from '../../kit/index.ts'
import type { CancelReason } from './contract.ts'

export type Reason = Static<typeof CancelReason>
export type Status = 'NEW' | 'PENDING' | 'CONFIRMED' | 'CANCELLED'

/** A line as priced at order time; money in minor units, as a decimal string (JSON has no bigint). */
export interface Line {
  productId: string
  name: string
  quantity: number
  unitPriceMinor: string
}

export type OrderEvent =
  | {
      type: 'order.placed'
      data: { orderId: string; userId: string; tenantId: string; items: Line[]; totalMinor: string; currency: string }
    }
  | { type: 'order.stock_reserved'; data: Record<string, never> }
  | { type: 'order.payment_authorized'; data: { paymentId: string } }
  | { type: 'order.payment_declined'; data: { reason: string } }
  | { type: 'order.stock_committed'; data: Record<string, never> }
  | { type: 'order.payment_captured'; data: { paymentId: string } }
  | { type: 'order.confirmed'; data: Record<string, never> }
  | { type: 'order.cancel_requested'; data: Record<string, never> }
  | { type: 'order.payment_voided'; data: Record<string, never> }
  | { type: 'order.payment_refunded'; data: Record<string, never> }
  | { type: 'order.stock_released'; data: Record<string, never> }
  | { type: 'order.cancelled'; data: { reason: Reason; detail: string | null } }

/** An event as stored: its place in the stream and when it was appended. */
export type Recorded = OrderEvent & { version: number; at: string }

export interface OrderState {
  version: number
  status: Status
  orderId: string
  userId: string
  tenantId: string
  items: Line[]
  totalMinor: string
  currency: string
  reserved: boolean
  authorized: boolean
  declined: string | null
  committed: boolean
  captured: boolean
  voided: boolean
  refunded: boolean
  released: boolean
  paymentId: string | null
  cancelRequested: boolean
  reason: Reason | null
  detail: string | null
  createdAt: string
  updatedAt: string
}

export type Command =
  | { type: 'place'; orderId: string; userId: string; tenantId: string; items: Line[]; currency: string }
  | { type: 'recordReserved' }
  | { type: 'recordAuthorized'; paymentId: string }
  | { type: 'recordDeclined'; reason: string }
  | { type: 'recordCommitted' }
  | { type: 'recordCaptured'; paymentId: string }
  | { type: 'confirm' }
  | { type: 'requestCancel' }
  | { type: 'recordVoided' }
  | { type: 'recordRefunded' }
  | { type: 'recordReleased' }
  | { type: 'cancel'; reason: Reason; detail: string | null }

export const initialState = (): OrderState => ({
  version: 0,
  status: 'NEW',
  orderId: '',
  userId: '',
  tenantId: '',
  items: [],
  totalMinor: '0',
  currency: '',
  reserved: false,
  authorized: false,
  declined: null,
  committed: false,
  captured: false,
  voided: false,
  refunded: false,
  released: false,
  paymentId: null,
  cancelRequested: false,
  reason: null,
  detail: null,
  createdAt: '',
  updatedAt: '',
})

const refuse = (state: OrderState, command: Command, why: string): never => {
  throw new MosaicError('conflict', { detail: `order ${state.orderId || '(new)'}: ${command.type} refused: ${why}` })
}

/** Money still held for the customer: an authorization neither captured nor voided, or a capture not refunded. */
export const holdsMoney = (s: OrderState): boolean =>
  (s.authorized && !s.captured && !s.voided) || (s.captured && !s.refunded)
/** Stock taken off the shelf for the order (reserved, or committed) and not given back. */
export const holdsStock = (s: OrderState): boolean => s.reserved && !s.released

/**
 * The events a command causes in `state`. A fact already recorded gives no event (a step's
 * outcome recorded twice, after a crash or a redelivery, is not an error); a command that
 * contradicts the state is refused.
 */
export function decide(state: OrderState, command: Command): OrderEvent[] {
  const none: OrderEvent[] = []
  if (command.type === 'place') {
    if (state.status !== 'NEW') return refuse(state, command, 'the order exists')
    if (command.items.length === 0) return refuse(state, command, 'no lines')
    const totalMinor = command.items
      .reduce((sum, l) => sum + BigInt(l.unitPriceMinor) * BigInt(l.quantity), 0n)
      .toString()
    return [
      {
        type: 'order.placed',
        data: {
          orderId: command.orderId,
          userId: command.userId,
          tenantId: command.tenantId,
          items: command.items,
          totalMinor,
          currency: command.currency,
        },
      },
    ]
  }
  if (state.status === 'NEW') return refuse(state, command, 'no such order')
  switch (command.type) {
    case 'recordReserved':
      if (state.reserved) return none
      if (state.status !== 'PENDING' || state.released)
        return refuse(state, command, 'the order is no longer taking stock')
      return [{ type: 'order.stock_reserved', data: {} }]
    case 'recordAuthorized':
      if (state.authorized) return none
      if (!state.reserved || state.declined !== null || state.voided || state.status !== 'PENDING')
        return refuse(state, command, 'not awaiting a payment')
      return [{ type: 'order.payment_authorized', data: { paymentId: command.paymentId } }]
    case 'recordDeclined':
      if (state.declined !== null) return none
      if (state.authorized || state.status !== 'PENDING')
        return refuse(state, command, 'the payment was already authorized')
      return [{ type: 'order.payment_declined', data: { reason: command.reason } }]
    case 'recordCommitted':
      if (state.committed) return none
      if (!state.reserved || !state.authorized || state.released || state.status !== 'PENDING')
        return refuse(state, command, 'stock is not reserved and paid for')
      return [{ type: 'order.stock_committed', data: {} }]
    case 'recordCaptured':
      if (state.captured) return none
      if (!state.committed || !state.authorized || state.voided) return refuse(state, command, 'nothing to capture')
      return [{ type: 'order.payment_captured', data: { paymentId: command.paymentId } }]
    case 'confirm':
      if (state.status === 'CONFIRMED') return none
      if (state.status !== 'PENDING' || !state.captured || !state.committed || state.released)
        return refuse(state, command, 'not paid and committed')
      return [{ type: 'order.confirmed', data: {} }]
    case 'requestCancel':
      if (state.status === 'CANCELLED' || (state.status === 'CONFIRMED' && state.refunded)) {
        throw new MosaicError('not_cancellable', { detail: `order ${state.orderId} is already cancelled` })
      }
      return state.cancelRequested ? none : [{ type: 'order.cancel_requested', data: {} }]
    case 'recordVoided':
      if (state.voided) return none
      if (state.captured) return refuse(state, command, 'the payment was captured: refund it')
      return [{ type: 'order.payment_voided', data: {} }]
    case 'recordRefunded':
      if (state.refunded) return none
      if (!state.captured) return refuse(state, command, 'nothing was captured')
      return [{ type: 'order.payment_refunded', data: {} }]
    case 'recordReleased':
      // Committed stock is given back too (catalog's release takes either): a cancelled order holds none.
      return state.released ? none : [{ type: 'order.stock_released', data: {} }]
    case 'cancel':
      if (state.status === 'CANCELLED') return none
      // The invariants of a cancelled order: nothing of the customer's held, no stock kept aside or sold.
      if (holdsMoney(state)) return refuse(state, command, 'money is still held: void or refund first')
      if (holdsStock(state)) return refuse(state, command, 'stock is still reserved or committed: release it first')
      return [{ type: 'order.cancelled', data: { reason: command.reason, detail: command.detail } }]
  }
}

/** The state after one more event (the next version of the stream). */
export function evolve(state: OrderState, event: Recorded): OrderState {
  const s: OrderState = { ...state, version: event.version, updatedAt: event.at }
  switch (event.type) {
    case 'order.placed':
      return { ...s, ...event.data, items: event.data.items, status: 'PENDING', createdAt: event.at }
    case 'order.stock_reserved':
      return { ...s, reserved: true }
    case 'order.payment_authorized':
      return { ...s, authorized: true, paymentId: event.data.paymentId }
    case 'order.payment_declined':
      return { ...s, declined: event.data.reason }
    case 'order.stock_committed':
      return { ...s, committed: true }
    case 'order.payment_captured':
      return { ...s, captured: true, paymentId: event.data.paymentId }
    case 'order.confirmed':
      return { ...s, status: 'CONFIRMED' }
    case 'order.cancel_requested':
      return { ...s, cancelRequested: true }
    case 'order.payment_voided':
      return { ...s, voided: true }
    case 'order.payment_refunded':
      return { ...s, refunded: true }
    case 'order.stock_released':
      return { ...s, released: true }
    case 'order.cancelled':
      return { ...s, status: 'CANCELLED', reason: event.data.reason, detail: event.data.detail }
    // An event type this version does not know (written by a newer one) changes nothing it can see.
    default:
      return s
  }
}

/**
 * Folds events delivered in any order, any number of times: each version is applied once, in
 * version order; a version already applied is skipped, and nothing after a gap is applied until
 * the missing version arrives (a later call with it catches up).
 */
export function replay(state: OrderState, events: readonly Recorded[]): OrderState {
  const byVersion = new Map<number, Recorded>()
  for (const event of events)
    if (event.version > state.version && !byVersion.has(event.version)) byVersion.set(event.version, event)
  let current = state
  for (let next = byVersion.get(current.version + 1); next; next = byVersion.get(current.version + 1))
    current = evolve(current, next)
  return current
}
