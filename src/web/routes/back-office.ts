// The back office (staff): products (create, edit, an image uploaded through the files service)
// and orders with their payments (refund a captured one). Every write goes through the public API
// as the signed-in user, so the route table and the services' policies decide who may do what.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Web } from '../plugin.ts'
import type { Product } from './shop.ts'
import { addStaffLink } from '../nav.ts'
import { fieldErrors, noticeOf, type FieldErrors, type Notice } from '../render.ts'
import { bars, days } from '../charts.ts'
import type { Static } from 'typebox'
import type { Mailbox } from '../../services/notifications/contract.ts'

addStaffLink({ href: '/staff', label: 'Back office', roles: ['staff'] })

interface ProductForm {
  id?: string
  name?: string
  description?: string
  price?: string
  currency?: string
  category?: string
  stock?: string
}

interface Order {
  id: string
  userId: string
  status: string
  total: number
  currency: string
  paymentId: string | null
  refunded: boolean
  createdAt: string
  reason: string | null
}
interface Payment {
  id: string
  orderId: string
  status: string
  amount: number
  captured: number
  refunded: number
  currency: string
}

/** The form's strings as the API's body: numbers where the field is one (the API's schema checks the rest). */
function productBody(form: ProductForm, creating: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  if (creating && form.id) body.id = form.id.trim()
  if (form.name !== undefined) body.name = form.name.trim()
  if (form.description !== undefined) body.description = form.description
  if (form.price !== undefined) body.price = form.price.trim()
  if (form.currency) body.currency = form.currency.trim().toUpperCase()
  if (form.category !== undefined) body.category = form.category.trim() === '' ? null : form.category.trim()
  if (form.stock !== undefined && form.stock !== '')
    body.stock = /^\d+$/.test(form.stock) ? Number(form.stock) : form.stock
  return body
}

const IMAGE_LIMIT = 8 * 1024 * 1024

export function registerBackOffice(web: Web): void {
  const staffOnly = (request: FastifyRequest, reply: FastifyReply, notice: Notice) =>
    web.render(request, reply.code(403), 'error', { title: 'Staff only', message: notice.text })
  // The API decides what each call may do; this only keeps customers out of pages that are not
  // theirs (the orders API would show a customer their own orders here).
  const staff = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const user = web.requireUser(request, reply)
    if (!user) return false
    if (web.hasRole(user, 'staff')) return true
    void staffOnly(request, reply, { kind: 'error', text: 'The back office is for staff.' })
    return false
  }

  web.app.get('/staff', async (_request, reply) => reply.redirect('/staff/products', 303))

  web.app.get('/staff/products', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const list = await web.api(request)<{ items: Product[] }>({ url: '/api/products?limit=100&sort=-created' })
    return web.render(request, reply, 'back-office/products', {
      title: 'Products',
      products: list.ok ? list.data.items : [],
      notices: list.ok ? [] : [noticeOf(list, 'The catalog')],
    })
  })

  const form = (request: FastifyRequest, reply: FastifyReply, data: Record<string, unknown>) =>
    web.render(request, reply, 'back-office/product', {
      title: data.product ? `Edit ${(data.product as Product).name}` : 'New product',
      errors: {},
      ...data,
    })

  web.app.get('/staff/products/new', async (request, reply) => {
    if (!staff(request, reply)) return reply
    return form(request, reply, { values: { currency: 'EUR', stock: '0' } })
  })

  web.app.post<{ Body: ProductForm }>('/staff/products/new', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const created = await web.api(request)<Product>({
      method: 'POST',
      url: '/api/products',
      body: productBody(request.body, true),
    })
    if (created.ok)
      return reply.redirect(`/staff/products/${encodeURIComponent(created.data.id)}?notice=product-saved`, 303)
    if (created.status === 403) return staffOnly(request, reply, noticeOf(created, 'Creating a product'))
    return form(request, reply, {
      values: request.body,
      errors: fieldErrors(created.problem),
      notices: [
        created.unavailable
          ? noticeOf(created, 'The catalog')
          : { kind: 'error', text: 'Please correct the fields below.' },
      ],
    })
  })

  web.app.get<{ Params: { id: string } }>('/staff/products/:id', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const found = await web.api(request)<Product>({ url: `/api/products/${encodeURIComponent(request.params.id)}` })
    if (!found.ok) {
      reply.code(found.status === 404 ? 404 : 503)
      return web.render(request, reply, 'error', { title: 'Product', message: noticeOf(found, 'The catalog').text })
    }
    const p = found.data
    return form(request, reply, {
      product: p,
      values: { ...p, price: String(p.price), stock: String(p.stock), category: p.category ?? '' },
    })
  })

  web.app.post<{ Params: { id: string }; Body: ProductForm }>('/staff/products/:id', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const url = `/api/products/${encodeURIComponent(request.params.id)}`
    const updated = await web.api(request)<Product>({ method: 'PATCH', url, body: productBody(request.body, false) })
    if (updated.ok)
      return reply.redirect(`/staff/products/${encodeURIComponent(updated.data.id)}?notice=product-saved`, 303)
    if (updated.status === 403) return staffOnly(request, reply, noticeOf(updated, 'Editing a product'))
    const current = await web.api(request)<Product>({ url })
    return form(request, reply, {
      ...(current.ok ? { product: current.data } : {}),
      values: request.body,
      errors: fieldErrors(updated.problem),
      notices: [
        updated.unavailable
          ? noticeOf(updated, 'The catalog')
          : { kind: 'error', text: 'Please correct the fields below.' },
      ],
    })
  })

  // The image: the browser's multipart body goes on as it is to the files service (public, so
  // the storefront shows it), then the product points at the new file. A child context of its
  // own, so the pass-through parser reaches this route only; its CSRF token is in the form's
  // action (a multipart body is not parsed before the check).
  web.app.register(async (child) => {
    child.addContentTypeParser('multipart/form-data', (_request, payload, done) => done(null, payload))
    child.post<{ Params: { id: string } }>(
      '/staff/products/:id/image',
      { bodyLimit: IMAGE_LIMIT },
      async (request, reply) => {
        if (!staff(request, reply)) return reply
        const api = web.api(request)
        const id = encodeURIComponent(request.params.id)
        const uploaded = await api<{ id: string }>({
          method: 'POST',
          url: '/api/files?visibility=public',
          headers: { 'content-type': String(request.headers['content-type']) },
          body: request.body,
        })
        let problem: { errors: FieldErrors; notice: Notice } | undefined
        if (uploaded.ok) {
          const linked = await api({
            method: 'PATCH',
            url: `/api/products/${id}`,
            body: { imageFileId: uploaded.data.id },
          })
          if (linked.ok) return reply.redirect(`/staff/products/${id}?notice=image-saved`, 303)
          problem = { errors: fieldErrors(linked.problem), notice: noticeOf(linked, 'The catalog') }
        } else {
          problem = {
            errors: { file: [uploaded.problem?.detail ?? uploaded.problem?.title ?? 'The upload failed'] },
            notice: uploaded.unavailable
              ? noticeOf(uploaded, 'The files service')
              : { kind: 'error', text: 'The image was not saved.' },
          }
        }
        const current = await api<Product>({ url: `/api/products/${id}` })
        const p = current.ok ? current.data : undefined
        return form(request, reply, {
          ...(p
            ? {
                product: p,
                values: { ...p, price: String(p.price), stock: String(p.stock), category: p.category ?? '' },
              }
            : { values: {} }),
          errors: problem.errors,
          notices: [problem.notice],
        })
      },
    )
  })

  // Reports as charts: sales per day (the main currency), top products, the funnel. Analytics down: each chart says so.
  web.app.get('/staff/reports', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const api = web.api(request)
    const [sales, top, funnel] = await Promise.all([
      api<{
        from: string
        to: string
        rows: { period: string; currency: string; revenue: number; ordersConfirmed: number }[]
      }>({
        url: '/api/analytics/reports/sales?interval=day',
      }),
      api<{ items: { name: string; quantity: number; revenue: number; currency: string }[] }>({
        url: '/api/analytics/reports/top-products?limit=8',
      }),
      api<{ stages: { stage: string; actors: number; conversion: number | null }[] }>({
        url: '/api/analytics/reports/funnel',
      }),
    ])
    const unavailable = (r: { ok: boolean }) => (r.ok ? undefined : noticeOf(r as never, 'Analytics'))
    let salesChart: Record<string, unknown> | undefined
    if (sales.ok) {
      const currencies = Map.groupBy(sales.data.rows, (r) => r.currency)
      const currency =
        [...currencies.keys()].sort((a, b) => currencies.get(b)!.length - currencies.get(a)!.length)[0] ?? 'EUR'
      const byDay = new Map((currencies.get(currency) ?? []).map((r) => [r.period, r]))
      const series = days(sales.data.from, sales.data.to).map((day) => ({
        label: day,
        value: byDay.get(day)?.revenue ?? 0,
      }))
      salesChart = {
        currency,
        from: sales.data.from,
        to: sales.data.to,
        bars: bars(series),
        total: series.reduce((n, d) => n + d.value, 0),
        confirmed: [...byDay.values()].reduce((n, r) => n + r.ordersConfirmed, 0),
      }
    }
    return web.render(request, reply, 'back-office/reports', {
      title: 'Reports',
      sales: salesChart,
      salesNotice: unavailable(sales),
      top: top.ok ? bars(top.data.items.map((p) => ({ label: p.name, value: p.quantity }))) : undefined,
      topNotice: unavailable(top),
      funnel: funnel.ok
        ? bars(funnel.data.stages.map((s) => ({ label: s.stage.replaceAll('_', ' '), value: s.actors }))).map(
            (b, i) => ({
              ...b,
              conversion: funnel.data.stages[i]!.conversion,
            }),
          )
        : undefined,
      funnelNotice: unavailable(funnel),
    })
  })

  web.app.get('/staff/mailbox', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const mailbox = await web.api(request)<Static<typeof Mailbox>>({ url: '/api/notifications/mailbox?format=json' })
    if (!mailbox.ok && mailbox.status === 403) return staffOnly(request, reply, noticeOf(mailbox, 'The mailbox'))
    return web.render(request, reply, 'back-office/mailbox', {
      title: 'Mailbox',
      mailbox: mailbox.ok ? mailbox.data : undefined,
      notices: mailbox.ok ? [] : [noticeOf(mailbox, 'The notifications service')],
    })
  })

  web.app.get<{ Querystring: { status?: string } }>('/staff/orders', async (request, reply) => {
    if (!staff(request, reply)) return reply
    const api = web.api(request)
    const status = ['PENDING', 'CONFIRMED', 'CANCELLED'].includes(request.query.status ?? '')
      ? request.query.status
      : undefined
    const orders = await api<{ items: Order[] }>({ url: `/api/orders?limit=50${status ? `&status=${status}` : ''}` })
    if (!orders.ok && orders.status === 403) return staffOnly(request, reply, noticeOf(orders, 'Orders'))
    // These orders' own payments (an order has at most one), however many payments are newer.
    const ids = orders.ok ? orders.data.items.map((o) => `orderId=${encodeURIComponent(o.id)}`) : []
    const payments =
      ids.length > 0
        ? await api<{ items: Payment[] }>({ url: `/api/payments?limit=${ids.length}&${ids.join('&')}` })
        : ({ ok: true, data: { items: [] } } as const)
    const byOrder = new Map((payments.ok ? payments.data.items : []).map((p) => [p.orderId, p]))
    return web.render(request, reply, 'back-office/orders', {
      title: 'Orders',
      status: status ?? '',
      orders: (orders.ok ? orders.data.items : []).map((o) => ({ ...o, payment: byOrder.get(o.id) })),
      notices: [
        ...(orders.ok ? [] : [noticeOf(orders, 'The orders service')]),
        ...(payments.ok ? [] : [noticeOf(payments, 'The payments service')]),
      ],
    })
  })

  web.app.post<{ Params: { id: string }; Body: { payment?: string } }>(
    '/staff/orders/:id/refund',
    async (request, reply) => {
      if (!staff(request, reply)) return reply
      const payment = request.body.payment ?? ''
      const refunded = await web.api(request)({
        method: 'POST',
        url: `/api/payments/${encodeURIComponent(payment)}/refund`,
        body: {},
        // The button refunds all that is left, once: a resent form (a double click) is the same refund.
        headers: { 'idempotency-key': `web-refund-${payment}` },
      })
      if (refunded.ok) return reply.redirect('/staff/orders?notice=refunded', 303)
      if (refunded.status === 403) return staffOnly(request, reply, noticeOf(refunded, 'Refunds'))
      return web.render(request, reply, 'error', {
        title: 'Refund not made',
        message: noticeOf(refunded, 'The refund').text,
      })
    },
  )
}
