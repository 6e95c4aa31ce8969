// The customer's orders: the list, one order with its status followed live (htmx polls a
// fragment until the order is CONFIRMED or CANCELLED; without JavaScript, a Refresh link), and
// cancelling (a pending order is compensated, a confirmed one refunded).
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Web } from '../plugin.ts'
import { namesNothing, noticeOf, type Notice } from '../render.ts'

export interface Order {
  readonly id: string
  readonly status: 'PENDING' | 'CONFIRMED' | 'CANCELLED'
  readonly items: { productId: string; name: string; quantity: number; unitPrice: number; currency: string }[]
  readonly total: number
  readonly currency: string
  readonly reason: string | null
  readonly detail: string | null
  readonly paymentId: string | null
  readonly refunded: boolean
  readonly createdAt: string
}

interface Payment {
  readonly id: string
  readonly orderId: string
  readonly status: string
  readonly amount: number
  readonly refunded: number
  readonly currency: string
  readonly declineReason: string | null
  readonly createdAt: string
}

interface Invoice {
  readonly id: string
  readonly number: string
  readonly orderId: string | null
}

/** Why an order was cancelled, as the customer reads it. */
export const REASONS: Record<string, string> = {
  out_of_stock: 'Some items were out of stock.',
  payment_declined: 'The payment was declined.',
  timeout: 'The order could not be completed in time.',
  cancelled_by_customer: 'You cancelled the order.',
}

export const DECLINES: Record<string, string> = {
  card_declined: 'the card was declined',
  insufficient_funds: 'the card has insufficient funds',
}

const orderUrl = (id: string): string => `/api/orders/${encodeURIComponent(id)}`

export function registerOrders(web: Web): void {
  web.app.get<{ Querystring: { cursor?: string } }>('/account/orders', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const params = new URLSearchParams({ limit: '20' })
    if (request.query.cursor) params.set('cursor', request.query.cursor)
    const page = await web.api(request)<{ items: Order[]; nextCursor: string | null }>({ url: `/api/orders?${params}` })
    return web.render(request, reply, 'account/orders', {
      title: 'Your orders',
      orders: page.ok ? page.data.items : [],
      nextUrl:
        page.ok && page.data.nextCursor
          ? `/account/orders?cursor=${encodeURIComponent(page.data.nextCursor)}`
          : undefined,
      notices: page.ok ? [] : [noticeOf(page, 'Your orders')],
      reasons: REASONS,
    })
  })

  web.app.get<{ Params: { id: string } }>('/account/orders/:id', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    return showOrder(web, request, reply, request.params.id)
  })

  // The live part of the order page, polled by htmx while the order is pending.
  web.app.get<{ Params: { id: string } }>('/account/orders/:id/status', async (request, reply) => {
    if (!request.user) return reply.code(401).type('text/plain').send('sign in')
    const state = await orderState(web, request, request.params.id)
    if (!state.order)
      return reply
        .code(state.missing ? 404 : 503)
        .type('text/plain')
        .send(state.notice?.text ?? '')
    const html = await reply.viewAsync('account/order-status', {
      ...state,
      csrf: request.web.csrf,
      reasons: REASONS,
      declines: DECLINES,
    })
    return reply.type('text/html; charset=utf-8').send(html)
  })

  web.app.post<{ Params: { id: string } }>('/account/orders/:id/cancel', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const id = request.params.id
    const cancelled = await web.api(request)<Order>({
      method: 'POST',
      url: `${orderUrl(id)}/cancel`,
      headers: { prefer: 'wait=5' },
    })
    if (!cancelled.ok) return showOrder(web, request, reply, id, [noticeOf(cancelled, 'Cancelling')])
    return reply.redirect(`/account/orders/${encodeURIComponent(id)}?notice=order-cancel-requested`, 303)
  })
}

interface OrderState {
  readonly order?: Order
  readonly payment?: Payment
  readonly invoice?: Invoice
  readonly missing?: boolean
  readonly notice?: Notice
}

/** The order with its payment and invoice; a payments service that is down only leaves them out. */
async function orderState(web: Web, request: FastifyRequest, id: string): Promise<OrderState> {
  const api = web.api(request)
  const order = await api<Order>({ url: orderUrl(id) })
  if (!order.ok) return { missing: namesNothing(order), notice: noticeOf(order, 'Your orders') }
  if (order.data.status === 'PENDING') return { order: order.data }
  // A declined payment is not linked from the order (only a captured one is): found by order id.
  const paymentId = order.data.paymentId
  const byOrder = `?orderId=${encodeURIComponent(id)}&limit=1`
  const [payment, invoices] = await Promise.all([
    paymentId
      ? api<Payment>({ url: `/api/payments/${encodeURIComponent(paymentId)}` })
      : api<{ items: Payment[] }>({ url: `/api/payments${byOrder}` }).then((page) =>
          page.ok ? { ...page, data: page.data.items[0] } : page,
        ),
    order.data.status === 'CONFIRMED' || order.data.refunded
      ? api<{ items: Invoice[] }>({ url: `/api/invoices${byOrder}` })
      : undefined,
  ])
  return {
    order: order.data,
    ...(payment.ok && payment.data ? { payment: payment.data } : {}),
    ...(invoices?.ok && invoices.data.items[0] ? { invoice: invoices.data.items[0] } : {}),
  }
}

async function showOrder(
  web: Web,
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  notices: Notice[] = [],
): Promise<FastifyReply> {
  const state = await orderState(web, request, id)
  if (!state.order) {
    reply.code(state.missing ? 404 : 200)
    return web.render(request, reply, 'error', {
      title: state.missing ? 'Order not found' : 'Orders unavailable',
      message: state.missing ? 'There is no such order in your account.' : state.notice!.text,
    })
  }
  return web.render(request, reply, 'account/order', {
    title: `Order ${id.slice(0, 8)}`,
    ...state,
    notices,
    reasons: REASONS,
    declines: DECLINES,
  })
}

export type { Payment, Invoice }
