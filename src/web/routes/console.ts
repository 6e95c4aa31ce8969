// The operator console (administrators): the services and their instances, request rates, the
// event bus with its dead letters and a replay button, the sagas in flight and the recent traces,
// each section a partial that htmx polls every few seconds. Everything is read through the
// operator API (/api/ops, admins only), so the console shows exactly what the API would.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Web } from '../plugin.ts'
import { addStaffLink } from '../nav.ts'
import { noticeOf, type Notice } from '../render.ts'
import { waterfall, type WaterfallSpan } from '../waterfall.ts'

addStaffLink({ href: '/console', label: 'Console', roles: ['admin'] })

/** Each section: the API route it shows and the partial that draws it. */
const SECTIONS = {
  services: { url: '/api/ops/services', title: 'Services', what: 'The services list' },
  routes: { url: '/api/ops/routes', title: 'Requests', what: 'Request metrics' },
  bus: { url: '/api/ops/bus', title: 'Event bus', what: 'The event bus' },
  sagas: { url: '/api/ops/sagas?all=true&limit=15', title: 'Checkout sagas', what: 'The orders service' },
  traces: { url: '/api/ops/traces', title: 'Recent traces', what: 'Tracing' },
} as const
type Section = keyof typeof SECTIONS
const isSection = (name: string): name is Section => Object.hasOwn(SECTIONS, name)

/** Seconds between refreshes of a section. */
const POLL_SECONDS = 3
const TRACES_SHOWN = 15
const LETTERS_SHOWN = 20

export function registerConsole(web: Web): void {
  async function section(request: FastifyRequest, name: Section) {
    const result = await web.api(request)<Record<string, unknown>>({ url: SECTIONS[name].url })
    const notice: Notice | undefined = result.ok ? undefined : noticeOf(result, SECTIONS[name].what)
    return {
      name,
      title: SECTIONS[name].title,
      poll: POLL_SECONDS,
      csrf: request.web.csrf,
      data: result.ok ? shape(name, result.data) : undefined,
      notice,
      forbidden: !result.ok && (result.status === 401 || result.status === 403),
    }
  }

  web.app.get('/console', async (request, reply) => {
    const user = web.requireUser(request, reply)
    if (!user) return reply
    const sections = await Promise.all((Object.keys(SECTIONS) as Section[]).map((name) => section(request, name)))
    if (sections.some((s) => s.forbidden)) return forbidden(request, reply)
    return web.render(request, reply, 'console/index', { title: 'Operator console', sections })
  })

  // A section alone, for htmx's polling: no layout. Signed out or not an admin any more: no data, and no more polling.
  web.app.get<{ Params: { name: string } }>('/console/part/:name', async (request, reply) => {
    if (!isSection(request.params.name)) return reply.code(404).type('text/plain').send('no such section')
    const part = await section(request, request.params.name)
    const html = await reply.viewAsync('console/section', { ...part, poll: part.forbidden ? 0 : part.poll })
    return reply.type('text/html; charset=utf-8').send(html)
  })

  web.app.get<{ Params: { traceId: string } }>('/console/traces/:traceId', async (request, reply) => {
    const user = web.requireUser(request, reply)
    if (!user) return reply
    const traceId = /^[0-9a-f]{32}$/.test(request.params.traceId) ? request.params.traceId : '0'.repeat(32)
    const result = await web.api(request)<{ spans: (WaterfallSpan & { kind: number })[] }>({
      url: `/api/ops/traces/${traceId}`,
    })
    if (!result.ok && (result.status === 401 || result.status === 403)) return forbidden(request, reply)
    if (!result.ok) reply.code(result.status === 404 ? 404 : 200)
    return web.render(request, reply, 'console/trace', {
      title: `Trace ${traceId.slice(0, 8)}`,
      traceId,
      ...(result.ok ? waterfall(result.data.spans) : { rows: [], totalMs: 0, services: [] }),
      notices: result.ok
        ? []
        : [
            result.status === 404
              ? { kind: 'info', text: 'No process keeps this trace any more: each keeps only its latest ones.' }
              : noticeOf(result, 'Tracing'),
          ],
    })
  })

  web.app.post<{ Body: { service?: string; id?: string } }>('/console/replay', async (request, reply) => {
    const user = web.requireUser(request, reply)
    if (!user) return reply
    const id = Number(request.body.id)
    const result = await web.api(request)<{ replayed: number }>({
      method: 'POST',
      url: '/api/ops/bus/replay',
      body: { service: request.body.service ?? '', ...(Number.isInteger(id) && id > 0 ? { ids: [id] } : {}) },
    })
    if (!result.ok && (result.status === 401 || result.status === 403)) return forbidden(request, reply)
    if (result.ok)
      return reply.redirect(`/console?notice=${result.data.replayed > 0 ? 'replayed' : 'nothing-replayed'}#bus`, 303)
    const sections = await Promise.all((Object.keys(SECTIONS) as Section[]).map((name) => section(request, name)))
    return web.render(request, reply, 'console/index', {
      title: 'Operator console',
      sections,
      notices: [noticeOf(result, 'The replay')],
    })
  })

  function forbidden(request: FastifyRequest, reply: FastifyReply) {
    reply.code(403)
    return web.render(request, reply, 'error', {
      title: 'Administrators only',
      message: 'The operator console is for administrators.',
    })
  }
}

/** What a section's partial needs from the API's answer (the bus's letters and the traces cut to what fits). */
function shape(name: Section, data: Record<string, unknown>): Record<string, unknown> {
  if (name === 'bus') return { ...data, letters: (data.letters as unknown[]).slice(0, LETTERS_SHOWN) }
  if (name === 'traces') return { traces: (data.traces as unknown[]).slice(0, TRACES_SHOWN) }
  return data
}
