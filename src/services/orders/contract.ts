// The orders contract: orders placed through the checkout saga, read from a projection of their
// event streams. Published events are what other services see of an order's life.
import { Type, defineContract, defineErrors, Currency, Amount } from '../../kit/index.ts'

export const ordersErrors = defineErrors({
  not_cancellable: { status: 409, title: 'The order can no longer be cancelled', retryable: false },
})

const Id = Type.String({ minLength: 1, maxLength: 100 })
const ProductId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })

export const OrderStatus = Type.Union([Type.Literal('PENDING'), Type.Literal('CONFIRMED'), Type.Literal('CANCELLED')])
export const CancelReason = Type.Union([
  Type.Literal('out_of_stock'), Type.Literal('payment_declined'), Type.Literal('timeout'), Type.Literal('cancelled_by_customer'),
])

/** A line as ordered: name and price are the catalog's at the time of the order. */
export const OrderLine = Type.Object({ productId: ProductId, name: Type.String(), quantity: Type.Integer({ minimum: 1 }), unitPrice: Amount, currency: Currency })

const OrderRef = { orderId: Id, userId: Id, tenantId: Id }

export const ordersContract = defineContract({
  name: 'orders',
  version: '1.0.0',
  routes: {},
  actions: {},
  events: {
    'order.placed': Type.Object({ ...OrderRef, items: Type.Array(OrderLine), total: Amount, currency: Currency }),
    'order.confirmed': Type.Object({ ...OrderRef, items: Type.Array(OrderLine), total: Amount, currency: Currency, paymentId: Id }),
    /** `refunded`: the order had been paid for, and the money went back. */
    'order.cancelled': Type.Object({ ...OrderRef, reason: CancelReason, detail: Type.Union([Type.String(), Type.Null()]), refunded: Type.Boolean() }),
  },
})

export type OrdersContract = typeof ordersContract
