// Rendering a page: the view with what every page's layout needs (the signed-in user, the CSRF
// token for its forms, the cart's size, notices, staff links), and the API's failures turned into
// what the page shows — field errors beside their fields, anything else a notice.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Problem } from '../kit/errors.ts'
import type { ApiResult } from './api.ts'
import { staffLinksFor, type NavLink } from './nav.ts'
import type { Web } from './plugin.ts'

export interface User {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly roles: readonly string[]
  readonly mfaEnabled?: boolean
}

export interface Notice {
  readonly kind: 'info' | 'success' | 'warning' | 'error'
  readonly text: string
}

/** Field name → messages, from a 422's `errors[].path` (a JSON pointer into the API's body). */
export type FieldErrors = Record<string, string[]>

export interface PageData {
  readonly title: string
  readonly notices?: readonly Notice[]
  readonly [key: string]: unknown
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user, looked up once per page (undefined: a visitor). */
    user?: User
  }
}

/** Messages a redirect may ask the next page to show (`?notice=`): fixed text, never echoed input. */
export const flashes: Record<string, Notice> = {
  replayed: { kind: 'success', text: 'The dead letters are sent back to their subscriptions.' },
  'nothing-replayed': { kind: 'info', text: 'There was nothing left to replay.' },
  'product-saved': { kind: 'success', text: 'The product is saved.' },
  'image-saved': { kind: 'success', text: 'The image is saved; its thumbnail follows in a moment.' },
  refunded: { kind: 'success', text: 'The payment is refunded.' },
  'role-changed': { kind: 'success', text: 'The role is changed.' },
  'signed-in': { kind: 'success', text: 'You are signed in.' },
  'signed-out': { kind: 'info', text: 'You are signed out.' },
  registered: { kind: 'success', text: 'Your account is ready. Welcome!' },
  'cart-added': { kind: 'success', text: 'Added to your cart.' },
  'cart-updated': { kind: 'success', text: 'Your cart is updated.' },
  'order-cancel-requested': { kind: 'info', text: 'Cancellation requested.' },
  'preferences-saved': { kind: 'success', text: 'Your notification preferences are saved.' },
  'mfa-enabled': { kind: 'success', text: 'Two-step sign-in is on.' },
  'mfa-disabled': { kind: 'info', text: 'Two-step sign-in is off.' },
}

export interface RenderOptions {
  readonly effectiveRoles: (roles: readonly string[]) => string[]
}

/**
 * Pages answer 200 even when they show a form's errors or a notice that a service is down: the
 * page itself is whole (and a browser logs every non-2xx document as a console error). Only a
 * page with nothing to show (not found) or a refused form (CSRF) has an error status.
 */
export async function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  data: PageData,
  options: RenderOptions,
): Promise<FastifyReply> {
  const flash = flashes[(request.query as { notice?: string } | undefined)?.notice ?? '']
  const user = request.user
  const staffLinks: NavLink[] = user ? staffLinksFor(options.effectiveRoles(user.roles)) : []
  const html = await reply.viewAsync(view, {
    ...data,
    notices: [...(flash ? [flash] : []), ...(data.notices ?? [])],
    user,
    staffLinks,
    csrf: request.web.csrf,
    cartCount: request.web.cart.reduce((n, line) => n + line.quantity, 0),
    path: request.url.split('?')[0],
  })
  return reply.type('text/html; charset=utf-8').send(html)
}

/** The notice for a failed call that is not the user's input to fix. */
export function noticeOf(result: Extract<ApiResult<unknown>, { ok: false }>, what: string): Notice {
  if (result.unavailable)
    return { kind: 'warning', text: `${what} is unavailable right now. Please try again in a moment.` }
  return { kind: 'error', text: result.problem?.detail ?? result.problem?.title ?? `${what} failed.` }
}

/** A lookup refused because its id names nothing: not found, or not an id at all. */
export const namesNothing = (result: Extract<ApiResult<unknown>, { ok: false }>): boolean =>
  result.status === 404 || result.status === 400

/**
 * The page for a lookup that failed: 404 for an id that names nothing (or no valid id), otherwise
 * the service's trouble as a notice on a 200 page (a non-2xx document is a console error).
 */
export function renderLookupFailure(
  web: Web,
  request: FastifyRequest,
  reply: FastifyReply,
  result: Extract<ApiResult<unknown>, { ok: false }>,
  texts: { notFound: string; noSuch: string; unavailable: string; what: string },
): Promise<FastifyReply> {
  const missing = namesNothing(result)
  reply.code(missing ? 404 : 200)
  return web.render(request, reply, 'error', {
    title: missing ? texts.notFound : texts.unavailable,
    message: missing ? texts.noSuch : noticeOf(result, texts.what).text,
  })
}

/** A 422's field paths as form field names: `/paymentMethod/token` → `paymentMethod.token`. */
export function fieldErrors(problem: Problem | undefined): FieldErrors {
  const errors: FieldErrors = {}
  for (const issue of problem?.errors ?? []) {
    const name = issue.path.replace(/^\/(body\/)?/, '').replaceAll('/', '.') || '_'
    ;(errors[name] ??= []).push(issue.message)
  }
  return errors
}
