// The orders contract: orders placed through the checkout saga, read from a projection of their
// event streams. Published events are what other services see of an order's life.
import { Type, Limit, Cursor, Page, defineContract, defineErrors, Currency, Amount } from '../../kit/index.ts'

export const ordersErrors = defineErrors({
  not_cancellable: { status: 409, title: 'The order can no longer be cancelled', retryable: false },
  unknown_product: { status: 422, title: 'An ordered product does not exist', retryable: false },
})

const Id = Type.String({ minLength: 1, maxLength: 100 })
const ProductId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })

export const OrderStatus = Type.Union([Type.Literal('PENDING'), Type.Literal('CONFIRMED'), Type.Literal('CANCELLED')])
export const CancelReason = Type.Union([
  Type.Literal('out_of_stock'),
  Type.Literal('payment_declined'),
  Type.Literal('timeout'),
  Type.Literal('cancelled_by_customer'),
])

/** A line as ordered: name and price are the catalog's at the time of the order. */
export const OrderLine = Type.Object({
  productId: ProductId,
  name: Type.String(),
  quantity: Type.Integer({ minimum: 1 }),
  unitPrice: Amount,
  currency: Currency,
})

const OrderRef = { orderId: Id, userId: Id, tenantId: Id }

/** The order as the list and detail views show it (a projection of its event stream). */
export const Order = Type.Object({
  id: Id,
  userId: Id,
  tenantId: Id,
  status: OrderStatus,
  items: Type.Array(OrderLine),
  total: Amount,
  currency: Currency,
  /** Why a CANCELLED order was cancelled; null otherwise. */
  reason: Type.Union([CancelReason, Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
  paymentId: Type.Union([Id, Type.Null()]),
  refunded: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})

/** At most this many of one product in one line: more is a typo, not an order. */
export const MAX_LINE_QUANTITY = 1000
const Quantity = Type.Integer({ minimum: 1, maximum: MAX_LINE_QUANTITY })
const PaymentMethod = Type.Object(
  {
    token: Type.String({
      pattern: '^tok_[A-Za-z0-9_]{1,64}$',
      description: 'From the payment provider (simulated: tok_visa, tok_declined, ...)',
    }),
  },
  { additionalProperties: false },
)

/** Either `items`, or the single-item form `productId` + `quantity`; the service says which is missing. */
const PlaceOrder = Type.Object(
  {
    items: Type.Optional(
      Type.Array(Type.Object({ productId: ProductId, quantity: Quantity }, { additionalProperties: false }), {
        minItems: 1,
        maxItems: 50,
      }),
    ),
    productId: Type.Optional(ProductId),
    quantity: Type.Optional(Quantity),
    paymentMethod: Type.Optional(PaymentMethod),
    userId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: 'Staff only: place the order for this customer' }),
    ),
  },
  { additionalProperties: false },
)

const ListQuery = Type.Object(
  {
    limit: Limit(),
    cursor: Type.Optional(Cursor),
    status: Type.Optional(OrderStatus),
    userId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: "Staff only: one customer's orders" }),
    ),
  },
  { additionalProperties: false },
)
const UserListQuery = Type.Object(
  { limit: Limit(), cursor: Type.Optional(Cursor), status: Type.Optional(OrderStatus) },
  { additionalProperties: false },
)
const OrderPage = Page(Order)

/** The checkout sagas as the operator console shows them: each step taken, when, and its outcome. */
export const SagaList = Type.Object({
  sagas: Type.Array(
    Type.Object({
      orderId: Id,
      phase: Type.Union([Type.Literal('forward'), Type.Literal('compensate'), Type.Literal('done')]),
      attempts: Type.Integer({ description: 'Failed attempts at the current step' }),
      reason: Type.Union([Type.String(), Type.Null()]),
      lastError: Type.Union([Type.String(), Type.Null()]),
      dueAt: Type.String({ format: 'date-time', description: 'When the runner tries the next step' }),
      deadlineAt: Type.String({ format: 'date-time' }),
      startedAt: Type.String({ format: 'date-time' }),
      updatedAt: Type.String({ format: 'date-time' }),
      traceId: Type.Union([Type.String(), Type.Null()], { description: 'The trace of the placing request' }),
      steps: Type.Array(
        Type.Object({
          step: Type.String(),
          outcome: Type.String({ description: 'ok, declined or compensated' }),
          at: Type.String({ format: 'date-time' }),
          tookMs: Type.Number({ description: 'Since the step before (or the order was placed)' }),
        }),
      ),
    }),
  ),
})
const IdParams = Type.Object({ id: Id })

export const ordersContract = defineContract({
  name: 'orders',
  version: '1.0.0',
  routes: {
    placeOrder: {
      method: 'POST',
      path: '/api/orders',
      status: 202,
      body: PlaceOrder,
      response: Order,
      summary:
        'Place an order (needs an Idempotency-Key header); 202 PENDING and a Location, or with `Prefer: wait=N` (N ≤ 10) the final state',
      errors: [
        'idempotency_key_missing',
        'idempotency_key_reused',
        'idempotency_key_in_flight',
        'unknown_product',
        'validation_failed',
      ],
    },
    listOrders: {
      method: 'GET',
      path: '/api/orders',
      summary: 'Your orders, newest first (staff: every order of the tenant, by status and user)',
      query: ListQuery,
      response: OrderPage,
    },
    listUserOrders: {
      method: 'GET',
      path: '/api/orders/user/:userId',
      summary: "A customer's orders (yourself, or anyone of your tenant for staff)",
      params: Type.Object({ userId: Id }),
      query: UserListQuery,
      response: OrderPage,
      errors: ['not_found'],
    },
    getOrder: {
      method: 'GET',
      path: '/api/orders/:id',
      summary: 'One order (yours, or any of your tenant for staff)',
      params: IdParams,
      response: Order,
      errors: ['not_found'],
    },
    cancelOrder: {
      method: 'POST',
      path: '/api/orders/:id/cancel',
      status: 202,
      params: IdParams,
      response: Order,
      summary:
        'Cancel your order: a pending one is compensated, a confirmed one refunded (`Prefer: wait=N` waits for it)',
      errors: ['not_found', 'not_cancellable'],
    },
  },
  actions: {
    sagas: {
      summary: 'Checkout sagas not finished (all: the latest of any phase), newest first, for the operator console',
      input: Type.Object(
        { limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }), all: Type.Boolean({ default: false }) },
        { additionalProperties: false },
      ),
      output: SagaList,
      idempotent: true,
    },
  },
  events: {
    'order.placed': Type.Object({ ...OrderRef, items: Type.Array(OrderLine), total: Amount, currency: Currency }),
    'order.confirmed': Type.Object({
      ...OrderRef,
      items: Type.Array(OrderLine),
      total: Amount,
      currency: Currency,
      paymentId: Id,
    }),
    /** `refunded`: the order had been paid for, and the money went back. */
    'order.cancelled': Type.Object({
      ...OrderRef,
      reason: CancelReason,
      detail: Type.Union([Type.String(), Type.Null()]),
      refunded: Type.Boolean(),
    }),
  },
})

export type OrdersContract = typeof ordersContract
