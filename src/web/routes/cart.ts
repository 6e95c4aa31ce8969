// The cart: lines kept in the browser's cart cookie (see cookies.ts), shown with the catalog's
// current names and prices.
import type { Web } from '../plugin.ts'
import { MAX_CART_LINES, MAX_QUANTITY, PRODUCT_ID, setCart } from '../cookies.ts'
import { noticeOf, type Notice } from '../render.ts'
import type { Product } from './shop.ts'

interface CartForm {
  productId?: string
  quantity?: string
  remove?: string
}

export interface PricedLine {
  readonly product: Product
  readonly quantity: number
}

/** The cart's lines with their products; lines whose product is gone are dropped. */
export async function pricedCart(
  web: Web,
  request: Parameters<Web['api']>[0],
): Promise<{ lines: PricedLine[]; notices: Notice[] }> {
  const api = web.api(request)
  const results = await Promise.all(
    request.web.cart.map((line) => api<Product>({ url: `/api/products/${encodeURIComponent(line.productId)}` })),
  )
  const lines: PricedLine[] = []
  const notices: Notice[] = []
  results.forEach((result, i) => {
    if (result.ok) lines.push({ product: result.data, quantity: request.web.cart[i]!.quantity })
    else if (result.unavailable && notices.length === 0) notices.push(noticeOf(result, 'The catalog'))
  })
  return { lines, notices }
}

export function registerCart(web: Web): void {
  web.app.get('/cart', async (request, reply) => {
    const { lines, notices } = await pricedCart(web, request)
    const currency = lines[0]?.product.currency ?? 'USD'
    const total = lines.reduce((sum, l) => sum + Math.round(l.product.price * 100) * l.quantity, 0) / 100
    return web.render(request, reply, 'shop/cart', { title: 'Your cart', lines, notices, total, currency })
  })

  web.app.post<{ Body: CartForm }>('/cart/add', async (request, reply) => {
    const { productId = '', quantity } = request.body
    const count = clampQuantity(quantity, 1)
    if (!PRODUCT_ID.test(productId)) return reply.redirect('/cart', 303)
    const cart = request.web.cart.filter((l) => l.productId !== productId)
    const had = request.web.cart.find((l) => l.productId === productId)?.quantity ?? 0
    setCart(
      reply,
      web.cookies,
      [...cart, { productId, quantity: Math.min(MAX_QUANTITY, had + count) }].slice(-MAX_CART_LINES),
    )
    return reply.redirect('/cart?notice=cart-added', 303)
  })

  web.app.post<{ Body: CartForm }>('/cart/update', async (request, reply) => {
    const { productId = '', quantity, remove } = request.body
    const count = remove ? 0 : clampQuantity(quantity, 0)
    setCart(
      reply,
      web.cookies,
      request.web.cart.flatMap((l) =>
        l.productId !== productId ? [l] : count > 0 ? [{ productId, quantity: count }] : [],
      ),
    )
    return reply.redirect('/cart?notice=cart-updated', 303)
  })
}

function clampQuantity(value: string | undefined, fallback: number): number {
  const n = Number.parseInt(value ?? '', 10)
  return Number.isFinite(n) ? Math.max(0, Math.min(MAX_QUANTITY, n)) : fallback
}
