// The payments and billing contract: payments (authorize → capture, void, refund) through a
// provider, invoices, subscriptions with usage. The actions are for the checkout saga; each is
// idempotent by its `key` (the saga derives it from the saga id and the step).
import { Type, defineContract, defineErrors, Currency, Amount } from '../../kit/index.ts'

export const paymentsErrors = defineErrors({
  payment_state: { status: 409, title: 'The payment is not in a state that allows this', retryable: false },
  refund_exceeds_capture: { status: 409, title: 'Refunds would exceed the amount captured', retryable: false },
  provider_unavailable: { status: 503, title: 'The payment provider did not answer', retryable: true },
})

const Id = Type.String({ minLength: 1, maxLength: 100 })
/** Idempotency key of one step: repeating a call with the same key returns the first outcome. */
const Key = Type.String({ minLength: 1, maxLength: 200 })
/** A payment-method token from the provider's client-side flow (simulated: tok_visa, tok_declined, ...). */
const PaymentToken = Type.String({ pattern: '^tok_[A-Za-z0-9_]{1,64}$' })

export const PaymentStatus = Type.Union([
  Type.Literal('authorized'), Type.Literal('declined'), Type.Literal('captured'),
  Type.Literal('voided'), Type.Literal('refunded'), Type.Literal('partially_refunded'),
])
export const DeclineReason = Type.Union([Type.Literal('card_declined'), Type.Literal('insufficient_funds')])

export const Payment = Type.Object({
  id: Id,
  orderId: Id,
  userId: Id,
  tenantId: Id,
  status: PaymentStatus,
  amount: Amount,
  captured: Amount,
  refunded: Amount,
  currency: Currency,
  declineReason: Type.Union([DeclineReason, Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})

const PaymentEvent = Type.Object({ paymentId: Id, orderId: Id, userId: Id, tenantId: Id, amount: Amount, currency: Currency })

export const paymentsContract = defineContract({
  name: 'payments',
  version: '1.0.0',
  routes: {},
  actions: {
    authorizePayment: {
      summary: 'Hold the order\'s amount on the payment method; a decline is an outcome (status declined), not an error',
      input: Type.Object({ key: Key, orderId: Id, userId: Id, tenantId: Id, amount: Amount, currency: Currency, token: PaymentToken }, { additionalProperties: false }),
      output: Payment,
      idempotent: true,
    },
    capturePayment: { summary: 'Take the authorized amount', input: Type.Object({ key: Key, orderId: Id }, { additionalProperties: false }), output: Payment, idempotent: true },
    voidPayment: {
      summary: 'Release an authorization (compensation). Before any authorization it records the void, so a late authorize holds nothing',
      input: Type.Object({ key: Key, orderId: Id }, { additionalProperties: false }),
      output: Type.Union([Payment, Type.Null()]),
      idempotent: true,
    },
    refundPayment: {
      summary: 'Give back captured money: the whole remainder, or `amount`',
      input: Type.Object({ key: Key, orderId: Id, amount: Type.Optional(Amount) }, { additionalProperties: false }),
      output: Payment,
      idempotent: true,
    },
  },
  events: {
    'payment.authorized': PaymentEvent,
    'payment.captured': PaymentEvent,
    'payment.declined': Type.Intersect([PaymentEvent, Type.Object({ reason: DeclineReason })]),
    'payment.voided': PaymentEvent,
    /** `amount` is this refund; `refunded` the total refunded so far. */
    'payment.refunded': Type.Intersect([PaymentEvent, Type.Object({ refundId: Id, refunded: Amount })]),
    'invoice.issued': Type.Object({
      invoiceId: Id, number: Type.String(), tenantId: Id, userId: Id,
      orderId: Type.Union([Id, Type.Null()]), subscriptionId: Type.Union([Id, Type.Null()]),
      total: Amount, currency: Currency,
    }),
  },
})

export type PaymentsContract = typeof paymentsContract
