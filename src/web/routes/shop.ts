// The storefront: the catalog (search, category, sort, a page at a time) and product pages.
import { createHash } from 'node:crypto'
import type { Web } from '../plugin.ts'
import { noticeOf, renderLookupFailure, type Notice } from '../render.ts'

export interface Product {
  readonly id: string
  readonly name: string
  readonly description: string
  readonly price: number
  readonly currency: string
  readonly category: string | null
  readonly stock: number
  readonly imageFileId: string | null
}

interface ProductPage {
  readonly items: Product[]
  readonly nextCursor: string | null
}

const PAGE_SIZE = 12
const SORTS = [
  { value: 'name', label: 'Name' },
  { value: 'price', label: 'Price: low to high' },
  { value: '-price', label: 'Price: high to low' },
  { value: '-created', label: 'Newest' },
]
const CATEGORIES_TTL_MS = 60_000

interface CatalogQuery {
  q?: string
  category?: string
  sort?: string
  cursor?: string
}

export function registerShop(web: Web, landingJson: () => unknown): void {
  // The catalog has no category list of its own: the filter's choices come from one page of
  // products, kept a minute so that a catalog page costs one call, not two.
  let categories: { at: number; names: string[] } | undefined

  web.app.get<{ Querystring: CatalogQuery }>('/', async (request, reply) => {
    // The gateway's address answered JSON clients with its links before the shop took `/`.
    const accept = request.headers.accept ?? ''
    reply.header('vary', 'accept')
    if (/application\/(.+\+)?json/.test(accept) && !accept.includes('text/html')) return reply.send(landingJson())

    const api = web.api(request)
    const query = request.query
    const q = typeof query.q === 'string' ? query.q.trim().slice(0, 200) : ''
    const sort = SORTS.some((s) => s.value === query.sort) ? query.sort! : 'name'
    const category = typeof query.category === 'string' && query.category !== '' ? query.category : undefined
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (query.cursor) params.set('cursor', query.cursor)
    let url: string
    if (q) {
      params.set('q', q)
      url = `/api/products/search?${params}`
    } else {
      params.set('sort', sort)
      if (category) params.set('category', category)
      url = `/api/products?${params}`
    }
    const notices: Notice[] = []
    const [page, names] = await Promise.all([
      api<ProductPage>({ url }),
      categories && Date.now() - categories.at < CATEGORIES_TTL_MS
        ? categories.names
        : api<ProductPage>({ url: '/api/products?limit=100' }).then((all) => {
            if (!all.ok) return []
            const names = [...new Set(all.data.items.flatMap((p) => (p.category ? [p.category] : [])))].sort()
            categories = { at: Date.now(), names }
            return names
          }),
    ])
    if (!page.ok) notices.push(noticeOf(page, 'The catalog'))
    const next = page.ok && page.data.nextCursor ? new URLSearchParams(stripEmpty({ q, sort, category })) : undefined
    next?.set('cursor', page.ok ? page.data.nextCursor! : '')
    return web.render(request, reply, 'shop/catalog', {
      title: q ? `Search: ${q}` : 'Shop',
      notices,
      products: page.ok ? page.data.items : [],
      available: page.ok,
      q,
      sort,
      category: category ?? '',
      sorts: SORTS,
      categories: names,
      nextUrl: next ? `/?${next}` : undefined,
      firstUrl: query.cursor ? `/?${new URLSearchParams(stripEmpty({ q, sort, category }))}` : undefined,
    })
  })

  web.app.get<{ Params: { id: string } }>('/products/:id', async (request, reply) => {
    const product = await web.api(request)<Product>({ url: `/api/products/${encodeURIComponent(request.params.id)}` })
    if (!product.ok)
      return renderLookupFailure(web, request, reply, product, {
        notFound: 'Product not found',
        noSuch: 'There is no such product.',
        unavailable: 'Catalog unavailable',
        what: 'The catalog',
      })
    // The funnel's first step (analytics' product_viewed), recorded beside the page and not waited
    // for: analytics slow or down never holds a page up. An anonymous visitor is named by a hash of
    // their CSRF cookie (stable for the visit, and not the token itself, which must stay secret).
    void web
      .api(request)({
        method: 'POST',
        url: '/api/analytics/events',
        body: {
          name: 'product_viewed',
          properties: { productId: product.data.id },
          ...(request.web.hasSession || !request.web.csrf ? {} : { visitorId: visitorOf(request.web.csrf) }),
        },
      })
      .catch(() => {})
    return web.render(request, reply, 'shop/product', { title: product.data.name, product: product.data })
  })
}

const visitorOf = (csrf: string): string => createHash('sha256').update(csrf).digest('base64url').slice(0, 32)

const stripEmpty = (values: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => Boolean(entry[1])))
