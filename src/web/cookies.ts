// The web layer's two cookies besides the identity service's session cookie:
// - the CSRF token its forms carry (double submit): a random one for a visitor, and after sign-in
//   the session's own CSRF token, which the API checks again against the session;
// - the cart: product ids and quantities, nothing secret (prices come from the catalog at
//   checkout), so a client editing it edits only its own cart. Why a cookie: docs in README.md.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseCookie, stringifySetCookie } from 'cookie'
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'

export const MAX_CART_LINES = 20
export const MAX_QUANTITY = 99

/** The catalog's product id pattern. */
export const PRODUCT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
export const CartLine = Type.Object({
  productId: Type.String({ pattern: PRODUCT_ID.source }),
  quantity: Type.Integer({ minimum: 1, maximum: MAX_QUANTITY }),
})
export type CartLine = Static<typeof CartLine>
const Cart = Compile(Type.Array(CartLine, { maxItems: MAX_CART_LINES }))

export interface WebState {
  readonly csrf: string | undefined
  readonly cart: readonly CartLine[]
  /** A session cookie was sent; whether it is still live the API decides. */
  readonly hasSession: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    web: WebState
  }
}

export interface CookieNames {
  readonly session: string
  readonly csrf: string
  readonly cart: string
  readonly secure: boolean
}

/** `__Host-` binds a cookie to this host and path /; browsers accept it only when Secure. */
export const cookieNames = (secure: boolean, session: string): CookieNames => ({
  session,
  csrf: secure ? '__Host-mosaic-csrf' : 'mosaic-csrf',
  cart: secure ? '__Host-mosaic-cart' : 'mosaic-cart',
  secure,
})

export function readState(request: FastifyRequest, names: CookieNames): WebState {
  const jar = request.headers.cookie ? parseCookie(request.headers.cookie) : {}
  return { csrf: jar[names.csrf], cart: parseCart(jar[names.cart]), hasSession: Boolean(jar[names.session]) }
}

export const csrfOf = (request: FastifyRequest): string | undefined => request.web?.csrf

function parseCart(value: string | undefined): CartLine[] {
  if (!value) return []
  try {
    const lines: unknown = JSON.parse(Buffer.from(value, 'base64url').toString())
    return Cart.Check(lines) ? lines : [] // a damaged or edited cookie is an empty cart, not an error
  } catch {
    return []
  }
}

const attributes = (names: CookieNames, maxAge: number) =>
  ({ httpOnly: true, sameSite: 'lax', path: '/', secure: names.secure, maxAge }) as const

export function setCart(reply: FastifyReply, names: CookieNames, cart: readonly CartLine[]): void {
  const value = cart.length === 0 ? '' : Buffer.from(JSON.stringify(cart)).toString('base64url')
  addCookie(reply, stringifySetCookie({ name: names.cart, value, ...attributes(names, value ? 30 * 86400 : 0) }))
}

export function setCsrf(reply: FastifyReply, names: CookieNames, token: string): void {
  addCookie(reply, stringifySetCookie({ name: names.csrf, value: token, ...attributes(names, 400 * 86400) }))
}

export const newCsrfToken = (): string => randomBytes(24).toString('base64url')

/** The form's token matches the cookie's (both present, compared in constant time). */
export function csrfMatches(request: FastifyRequest, given: unknown): boolean {
  const expected = request.web.csrf
  if (typeof given !== 'string' || !expected) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Adds a Set-Cookie to the reply, keeping those already set. */
export function addCookie(reply: FastifyReply, cookie: string): void {
  const existing = reply.getHeader('set-cookie')
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)]
  reply.header('set-cookie', [...list, cookie])
}
