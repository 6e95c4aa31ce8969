// The account's other pages: the overview, invoices, payments and notification preferences.
import type { Web } from '../plugin.ts'
import { noticeOf, renderLookupFailure } from '../render.ts'

interface Page<T> {
  readonly items: T[]
  readonly nextCursor: string | null
}

const PREFERENCE_KINDS = [
  { name: 'receipt', label: 'Receipts when an order is confirmed' },
  { name: 'cancellation', label: 'Notices when an order is cancelled' },
  { name: 'refund', label: 'Notices when money is refunded' },
] as const

type Preferences = Record<(typeof PREFERENCE_KINDS)[number]['name'], boolean>

export function registerAccount(web: Web): void {
  web.app.get('/account', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    return web.render(request, reply, 'account/overview', { title: 'Your account' })
  })

  /** A list page of the account: one API list, newest first, a page at a time. */
  const listPage = (path: string, api: string, view: string, title: string, what: string): void => {
    web.app.get<{ Querystring: { cursor?: string } }>(path, async (request, reply) => {
      if (!web.requireUser(request, reply)) return reply
      const params = new URLSearchParams({ limit: '20' })
      if (request.query.cursor) params.set('cursor', request.query.cursor)
      const page = await web.api(request)<Page<unknown>>({ url: `${api}?${params}` })
      return web.render(request, reply, view, {
        title,
        items: page.ok ? page.data.items : [],
        nextUrl:
          page.ok && page.data.nextCursor ? `${path}?cursor=${encodeURIComponent(page.data.nextCursor)}` : undefined,
        notices: page.ok ? [] : [noticeOf(page, what)],
      })
    })
  }
  listPage('/account/invoices', '/api/invoices', 'account/invoices', 'Your invoices', 'Invoices')
  listPage('/account/payments', '/api/payments', 'account/payments', 'Your payments', 'Payments')

  web.app.get<{ Params: { id: string } }>('/account/invoices/:id', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const invoice = await web.api(request)({ url: `/api/invoices/${encodeURIComponent(request.params.id)}` })
    if (!invoice.ok)
      return renderLookupFailure(web, request, reply, invoice, {
        notFound: 'Invoice not found',
        noSuch: 'There is no such invoice in your account.',
        unavailable: 'Invoices unavailable',
        what: 'Invoices',
      })
    return web.render(request, reply, 'account/invoice', { title: 'Invoice', invoice: invoice.data })
  })

  web.app.get('/account/notifications', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const preferences = await web.api(request)<Preferences>({ url: '/api/notifications/preferences' })
    return web.render(request, reply, 'account/notifications', {
      title: 'Notification preferences',
      kinds: PREFERENCE_KINDS,
      preferences: preferences.ok ? preferences.data : undefined,
      notices: preferences.ok ? [] : [noticeOf(preferences, 'Notification preferences')],
    })
  })

  web.app.post<{ Body: Record<string, string> }>('/account/notifications', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    // A checkbox left unticked is not sent at all: every kind is named, on or off.
    const body = Object.fromEntries(PREFERENCE_KINDS.map((k) => [k.name, request.body[k.name] === 'on']))
    const saved = await web.api(request)<Preferences>({
      method: 'PATCH',
      url: '/api/notifications/preferences',
      body,
    })
    if (!saved.ok)
      return web.render(request, reply, 'account/notifications', {
        title: 'Notification preferences',
        kinds: PREFERENCE_KINDS,
        preferences: body,
        notices: [noticeOf(saved, 'Saving your preferences')],
      })
    return reply.redirect('/account/notifications?notice=preferences-saved', 303)
  })
}
