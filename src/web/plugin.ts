// The web application: server-rendered pages (Eta through @fastify/view, escaped by default) at
// `/`, enhanced by htmx, under a strict Content-Security-Policy with no inline script. Mounted by
// the gateway as an encapsulated plugin: its hooks, parsers and headers stay out of /api.
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyView from '@fastify/view'
import formBody from '@fastify/formbody'
import { Eta } from 'eta'
import { apiFor, type Api } from './api.ts'
import { registerAssets } from './assets.ts'
import { cookieNames, csrfMatches, newCsrfToken, readState, setCsrf, type CookieNames } from './cookies.ts'
import { dateTime, money } from './format.ts'
import { renderPage, type PageData, type User } from './render.ts'
import { registerShop } from './routes/shop.ts'
import { registerCart } from './routes/cart.ts'
import { registerCheckout } from './routes/checkout.ts'
import { registerAccount } from './routes/account.ts'
import { registerSignIn } from './routes/sign-in.ts'
import { registerOrders } from './routes/orders.ts'
import { registerSecurity } from './routes/security.ts'
import { registerConsole } from './routes/console.ts'
import { registerBackOffice } from './routes/back-office.ts'
import { registerUsers } from './routes/users.ts'

export interface WebOptions {
  /** AUTH_COOKIE_SECURE: cookies are Secure and `__Host-` prefixed. */
  readonly cookieSecure: boolean
  /** The identity service's session cookie name. */
  readonly sessionCookie: string
  readonly effectiveRoles: (roles: readonly string[]) => string[]
  /** What `GET /` answers a client that asks for JSON (the gateway's links). */
  readonly landingJson: () => unknown
}

/** What a page's routes are given: the API as the caller, the renderer, the cookie names. */
export interface Web {
  readonly app: FastifyInstance
  readonly cookies: CookieNames
  api(request: FastifyRequest, reply?: FastifyReply): Api
  render(request: FastifyRequest, reply: FastifyReply, view: string, data: PageData): Promise<FastifyReply>
  /** The signed-in user, or a redirect to sign in (then undefined: the route returns `reply`). */
  requireUser(request: FastifyRequest, reply: FastifyReply): User | undefined
  /** Whether `user` holds `role`, after the policies' hierarchy (admin ⊇ staff ⊇ customer). */
  hasRole(user: User, role: string): boolean
}

/**
 * Scripts only from this origin (htmx), no inline script or style attribute, forms post only
 * here, images from here (thumbnails) or data: (QR codes), and never in a frame.
 */
export const WEB_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

export function webApp(options: WebOptions) {
  return async function web(app: FastifyInstance): Promise<void> {
    const cookies = cookieNames(options.cookieSecure, options.sessionCookie)
    await app.register(formBody, { bodyLimit: 64 * 1024 })
    const assets = registerAssets(app)
    await app.register(fastifyView, {
      engine: { eta: new Eta({ autoEscape: true }) },
      templates: join(import.meta.dirname, 'views'),
      production: true, // compile each template once; they change only with the code
      defaultContext: {
        money,
        dateTime,
        assets,
      },
    })

    // After the gateway's own onRequest (the API's CSP, which would forbid every script): replaces it.
    app.addHook('onRequest', async (request, reply) => {
      reply.header('content-security-policy', WEB_CSP)
      reply.header('referrer-policy', 'same-origin')
      let state = readState(request, cookies)
      if (!state.csrf) {
        state = { ...state, csrf: newCsrfToken() }
        setCsrf(reply, cookies, state.csrf!)
      }
      request.web = state
    })
    app.addHook('onSend', async (_request, reply) => {
      if (String(reply.getHeader('content-type') ?? '').startsWith('text/html'))
        reply.header('cache-control', 'no-store')
    })
    // Every unsafe request comes from one of our forms: same-site, and carrying the token its
    // cookie holds (double submit; signed in, the API checks that token against the session too).
    app.addHook('preHandler', async (request, reply) => {
      if (SAFE.has(request.method)) return
      const site = request.headers['sec-fetch-site']
      const body = request.body as Record<string, unknown> | undefined
      // A multipart form (an upload) is not parsed before this check: its token is in the action's query.
      const token = body?._csrf ?? (request.query as { _csrf?: unknown } | undefined)?._csrf
      if ((site !== undefined && site !== 'same-origin' && site !== 'none') || !csrfMatches(request, token)) {
        reply.code(403)
        return web.render(request, reply, 'error', {
          title: 'Form expired',
          message: 'This form has expired or came from another site. Go back, reload the page and try again.',
        })
      }
    })
    // The header shows who is signed in: one call per page, and none for a visitor without a session.
    app.addHook('preHandler', async (request) => {
      if (!request.web.hasSession || request.routeOptions.url?.startsWith('/assets/')) return
      const me = await apiFor(app, request)<User>({ url: '/api/users/me' })
      if (me.ok) request.user = me.data
    })

    const web: Web = {
      app,
      cookies,
      api: (request, reply) => apiFor(app, request, reply),
      render: (request, reply, view, data) =>
        renderPage(request, reply, view, data, { effectiveRoles: options.effectiveRoles }),
      requireUser(request, reply) {
        if (request.user) return request.user
        void reply.redirect(`/sign-in?next=${encodeURIComponent(request.url)}`, 303)
        return undefined
      },
      hasRole: (user, role) => options.effectiveRoles(user.roles).includes(role),
    }
    registerShop(web, options.landingJson)
    registerCart(web)
    registerCheckout(web)
    registerSignIn(web)
    registerAccount(web)
    registerOrders(web)
    registerSecurity(web)
    registerConsole(web)
    registerBackOffice(web)
    registerUsers(web)
  }
}
