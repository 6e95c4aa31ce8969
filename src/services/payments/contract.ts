// The payments and billing contract: payments (authorize → capture, void, refund) through a
// provider, invoices, subscriptions with usage. The actions are for the checkout saga; each is
// idempotent by its `key` (the saga derives it from the saga id and the step).
import { Type, Limit, Cursor, Page, defineContract, defineErrors, Currency, Amount } from '../../kit/index.ts'

export const paymentsErrors = defineErrors({
  payment_state: { status: 409, title: 'The payment is not in a state that allows this', retryable: false },
  refund_exceeds_capture: { status: 409, title: 'Refunds would exceed the amount captured', retryable: false },
  provider_unavailable: { status: 503, title: 'The payment provider did not answer', retryable: true },
  /** Another capture or void of the payment is still waiting for the provider. */
  payment_busy: { status: 409, title: 'Another operation on this payment is in progress', retryable: true },
  /** The same key was used for a different request (or another action). */
})

const Id = Type.String({ minLength: 1, maxLength: 100 })
/** Idempotency key of one step: repeating a call with the same key returns the first outcome. */
const Key = Type.String({ minLength: 1, maxLength: 200 })
/** A payment-method token from the provider's client-side flow (simulated: tok_visa, tok_declined, ...). */
const PaymentToken = Type.String({ pattern: '^tok_[A-Za-z0-9_]{1,64}$' })

export const PaymentStatus = Type.Union([
  Type.Literal('authorized'),
  Type.Literal('declined'),
  Type.Literal('captured'),
  Type.Literal('voided'),
  Type.Literal('refunded'),
  Type.Literal('partially_refunded'),
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

/** A line of an invoice: an order line, a plan's fee, or usage beyond what the plan includes. */
export const InvoiceLine = Type.Object({
  description: Type.String(),
  quantity: Type.Integer(),
  unitPrice: Amount,
  amount: Amount,
})

export const Invoice = Type.Object({
  id: Id,
  /** INV-<tenant>-000001: consecutive per tenant, without gaps. */
  number: Type.String(),
  tenantId: Id,
  userId: Id,
  orderId: Type.Union([Id, Type.Null()]),
  subscriptionId: Type.Union([Id, Type.Null()]),
  periodStart: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  periodEnd: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lines: Type.Array(InvoiceLine),
  total: Amount,
  currency: Currency,
  issuedAt: Type.String({ format: 'date-time' }),
})

const PlanId = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' })
export const Plan = Type.Object({
  id: PlanId,
  name: Type.String(),
  /** Charged every period. */
  fee: Amount,
  currency: Currency,
  /** Units of usage the fee covers in a period; each unit beyond costs unitPrice. */
  includedUnits: Type.Integer(),
  unitPrice: Amount,
  period: Type.Literal('month'),
})

export const Subscription = Type.Object({
  id: Id,
  tenantId: Id,
  userId: Id,
  planId: PlanId,
  status: Type.Literal('active'),
  /** Start of the period not yet invoiced. */
  periodStart: Type.String({ format: 'date-time' }),
  /** Units recorded since periodStart. */
  usage: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
})

const Usage = Type.Object({
  id: Id,
  subscriptionId: Id,
  quantity: Type.Integer(),
  timestamp: Type.String({ format: 'date-time' }),
})

const IdParams = Type.Object({ id: Id })
const ListQuery = Type.Object(
  {
    limit: Limit(),
    cursor: Type.Optional(Cursor),
    /**
     * Only these orders' payments or invoices (an order has at most one of each): one order, or
     * several as the key repeated (`?orderId=a&orderId=b`, at most 100), as a page of orders needs.
     */
    orderId: Type.Optional(Type.Union([Id, Type.Array(Id, { minItems: 1, maxItems: 100 })])),
  },
  { additionalProperties: false },
)

const PaymentEvent = Type.Object({
  paymentId: Id,
  orderId: Id,
  userId: Id,
  tenantId: Id,
  amount: Amount,
  currency: Currency,
})

export const paymentsContract = defineContract({
  name: 'payments',
  version: '1.0.0',
  routes: {
    listPayments: {
      method: 'GET',
      path: '/api/payments',
      summary: 'Your payments; staff: every payment of the tenant. Newest first',
      query: ListQuery,
      response: Page(Payment),
    },
    getPayment: {
      method: 'GET',
      path: '/api/payments/:id',
      summary: 'A payment (yours, or any of the tenant for staff)',
      params: IdParams,
      response: Payment,
      errors: ['not_found'],
    },
    refundPayment: {
      method: 'POST',
      path: '/api/payments/:id/refund',
      summary: 'Give back captured money (staff): `amount`, or all that is left. Needs an Idempotency-Key header',
      params: IdParams,
      body: Type.Object(
        { amount: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e13 })) },
        { additionalProperties: false },
      ),
      response: Payment,
      errors: [
        'not_found',
        'refund_exceeds_capture',
        'payment_state',
        'idempotency_key_missing',
        'idempotency_key_reused',
        'bad_request',
      ],
    },
    listInvoices: {
      method: 'GET',
      path: '/api/invoices',
      summary: 'Your invoices; staff: every invoice of the tenant. Newest first',
      query: ListQuery,
      response: Page(Invoice),
    },
    getInvoice: {
      method: 'GET',
      path: '/api/invoices/:id',
      summary: 'An invoice, as JSON or (Accept: text/html, or ?format=html) as a printable page',
      params: IdParams,
      query: Type.Object(
        { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('html')])) },
        { additionalProperties: false },
      ),
      response: Invoice,
      produces: ['text/html'],
      errors: ['not_found'],
    },
    listPlans: {
      method: 'GET',
      path: '/api/subscriptions/plans',
      summary: 'The plans one may subscribe to',
      response: Type.Object({ items: Type.Array(Plan) }),
    },
    createSubscription: {
      method: 'POST',
      path: '/api/subscriptions',
      summary: 'Subscribe (yourself) to a plan',
      status: 201,
      body: Type.Object({ planId: PlanId }, { additionalProperties: false }),
      response: Subscription,
      errors: ['not_found'],
    },
    getSubscription: {
      method: 'GET',
      path: '/api/subscriptions/:id',
      summary: 'A subscription with its usage this period',
      params: IdParams,
      response: Subscription,
      errors: ['not_found'],
    },
    recordUsage: {
      method: 'POST',
      path: '/api/subscriptions/:id/usage',
      summary: 'Record units used. Deduplicated by the Idempotency-Key header or `clientId`',
      status: 201,
      params: IdParams,
      body: Type.Object(
        {
          quantity: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
          timestamp: Type.Optional(Type.String({ format: 'date-time' })),
          clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
      response: Usage,
      errors: ['not_found', 'idempotency_key_reused', 'bad_request'],
    },
    invoiceSubscription: {
      method: 'POST',
      path: '/api/subscriptions/:id/invoice',
      summary:
        'Close the period (staff): invoice the fee and the usage beyond the plan. Needs an Idempotency-Key header',
      status: 201,
      params: IdParams,
      response: Invoice,
      errors: ['not_found', 'idempotency_key_missing', 'bad_request'],
    },
  },
  actions: {
    authorizePayment: {
      summary: "Hold the order's amount on the payment method; a decline is an outcome (status declined), not an error",
      input: Type.Object(
        { key: Key, orderId: Id, userId: Id, tenantId: Id, amount: Amount, currency: Currency, token: PaymentToken },
        { additionalProperties: false },
      ),
      output: Payment,
      idempotent: true,
    },
    capturePayment: {
      summary: 'Take the authorized amount',
      input: Type.Object({ key: Key, orderId: Id }, { additionalProperties: false }),
      output: Payment,
      idempotent: true,
    },
    voidPayment: {
      summary:
        'Release an authorization (compensation). Before any authorization it records the void, so a late authorize holds nothing',
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
      invoiceId: Id,
      number: Type.String(),
      tenantId: Id,
      userId: Id,
      orderId: Type.Union([Id, Type.Null()]),
      subscriptionId: Type.Union([Id, Type.Null()]),
      total: Amount,
      currency: Currency,
    }),
  },
})

export type PaymentsContract = typeof paymentsContract
