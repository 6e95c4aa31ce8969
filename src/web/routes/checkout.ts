// Checkout: the cart becomes an order (placed with an Idempotency-Key fixed when the form was
// shown, so a double submit places it once), then the order's page follows it live.
import { randomUUID } from 'node:crypto'
import type { Web } from '../plugin.ts'
import { setCart } from '../cookies.ts'
import { fieldErrors, noticeOf, type Notice } from '../render.ts'
import { pricedCart } from './cart.ts'

/** The simulated provider's test tokens, as a shopper picks a card. */
export const PAYMENT_METHODS = [
  { token: 'tok_visa', label: 'Visa ending 4242 (approves)' },
  { token: 'tok_declined', label: 'Card that is declined' },
  { token: 'tok_insufficient_funds', label: 'Card without enough funds' },
]

interface CheckoutForm {
  token?: string
  key?: string
}

export function registerCheckout(web: Web): void {
  const showForm = async (
    request: Parameters<Web['render']>[0],
    reply: Parameters<Web['render']>[1],
    extra: { notices?: Notice[]; errors?: Record<string, string[]>; token?: string; key?: string } = {},
  ) => {
    const { lines, notices } = await pricedCart(web, request)
    const currency = lines[0]?.product.currency ?? 'USD'
    const total = lines.reduce((sum, l) => sum + Math.round(l.product.price * 100) * l.quantity, 0) / 100
    return web.render(request, reply, 'shop/checkout', {
      title: 'Checkout',
      lines,
      total,
      currency,
      methods: PAYMENT_METHODS,
      token: extra.token ?? 'tok_visa',
      key: extra.key ?? randomUUID(),
      errors: extra.errors ?? {},
      notices: [...notices, ...(extra.notices ?? [])],
    })
  }

  web.app.get('/checkout', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    return showForm(request, reply)
  })

  web.app.post<{ Body: CheckoutForm }>('/checkout', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const token = request.body.token ?? ''
    const key = /^[0-9a-f-]{36}$/.test(request.body.key ?? '') ? request.body.key! : randomUUID()
    if (request.web.cart.length === 0) return reply.redirect('/cart', 303)
    const placed = await web.api(request)<{ id: string }>({
      method: 'POST',
      url: '/api/orders',
      headers: { 'idempotency-key': key },
      body: { items: request.web.cart, paymentMethod: { token } },
    })
    if (!placed.ok) {
      const errors = fieldErrors(placed.problem)
      if (errors['paymentMethod.token']) errors.token = errors['paymentMethod.token']
      return showForm(request, reply, {
        token,
        key,
        errors,
        notices: [
          placed.status === 422 && Object.keys(errors).length > 0
            ? { kind: 'error', text: 'Please correct the fields below.' }
            : noticeOf(placed, 'Checkout'),
        ],
      })
    }
    setCart(reply, web.cookies, [])
    return reply.redirect(`/account/orders/${encodeURIComponent(placed.data.id)}`, 303)
  })
}
