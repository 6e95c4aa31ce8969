// The catalog service: products (public) and inventory (for the checkout saga).
import { Type, Env, MosaicError, defineService, requireIdentity, type RouteContext } from '../../kit/index.ts'
import { catalogContract } from './contract.ts'
import { filesContract } from '../files/contract.ts'
import {
  listProducts,
  searchProducts,
  getProduct,
  getProducts,
  createProduct,
  updateProduct,
  deleteProduct,
  productTag,
  productPages,
} from './products.ts'
import { reserve, release, commit } from './inventory.ts'
import { seedDemoCatalog } from './seed.ts'

/** The gateway lets only staff write; the service asks the policies too, whoever reached it. */
function mayWrite(ctx: RouteContext, id: string): void {
  if (!ctx.authorize(requireIdentity(ctx), 'products:write', { type: 'Product', id }))
    throw new MosaicError('forbidden', { detail: 'only staff change the catalog' })
}

/** A product's image must be a stored, public image: asked of the files service before the transaction (no calls inside one). */
async function checkImage(ctx: RouteContext, fileId: string | null | undefined): Promise<void> {
  if (!fileId) return
  const invalid = (message: string): MosaicError =>
    new MosaicError('validation_failed', { issues: [{ path: '/imageFileId', code: 'image', message }] })
  const file = await ctx
    .client(filesContract)
    .getFile({ id: fileId })
    .catch((error: unknown) => {
      throw error instanceof MosaicError && error.code === 'not_found' ? invalid('is not a stored file') : error
    })
  if (!file.contentType.startsWith('image/')) throw invalid(`is ${file.contentType}, not an image`)
  // Shoppers see products without signing in: an image only its uploader and staff may read would not show.
  if (file.visibility !== 'public')
    throw invalid(
      'is a private file, which shoppers cannot see: upload it with ?visibility=public or make it public (PATCH /api/files/:id)',
    )
}

export default defineService(catalogContract, {
  migrations: new URL('./migrations/', import.meta.url),
  config: Type.Object({
    CATALOG_LOW_STOCK_THRESHOLD: Type.Integer({
      minimum: 0,
      default: 5,
      description: '`inventory.low` is published when stock falls to this',
    }),
    CATALOG_SEED_DEMO: Env.flag(true, 'Seed the demo catalog on first start'),
  }),

  async start(ctx) {
    if (!ctx.config.CATALOG_SEED_DEMO) return
    const seeded = await seedDemoCatalog(ctx.db)
    if (seeded > 0) ctx.log.info({ products: seeded }, 'demo catalog seeded')
  },

  routes: {
    // Reads come from the cache; every change to products invalidates what it touched (see products.ts, inventory.ts).
    listProducts: ({ query }, ctx) =>
      ctx.cache.get(`list:${JSON.stringify(query)}`, () => listProducts(ctx.db, query), { tag: productPages }),
    searchProducts: ({ query }, ctx) =>
      ctx.cache.get(
        `search:${JSON.stringify(query)}`,
        () => searchProducts(ctx.db, query.q, query.limit, query.cursor),
        { tag: productPages },
      ),
    getProduct: ({ params }, ctx) => ctx.cache.get(productTag(params.id), () => getProduct(ctx.db, params.id)),
    async createProduct({ body }, ctx) {
      mayWrite(ctx, body.id ?? 'new')
      await checkImage(ctx, body.imageFileId)
      const product = await ctx.db.transaction((tx) => createProduct(tx, body))
      ctx.setHeader('location', `/api/products/${encodeURIComponent(product.id)}`)
      return product
    },
    async updateProduct({ params, body }, ctx) {
      mayWrite(ctx, params.id)
      await checkImage(ctx, body.imageFileId)
      return ctx.db.transaction((tx) => updateProduct(tx, params.id, body, ctx.config.CATALOG_LOW_STOCK_THRESHOLD))
    },
    async deleteProduct({ params }, ctx) {
      mayWrite(ctx, params.id)
      await ctx.db.transaction((tx) => deleteProduct(tx, params.id))
      return null
    },
  },

  actions: {
    reserveStock: ({ orderId, items }, ctx) =>
      ctx.db.transaction((tx) => reserve(tx, orderId, items, ctx.config.CATALOG_LOW_STOCK_THRESHOLD)),
    releaseStock: ({ orderId }, ctx) => ctx.db.transaction((tx) => release(tx, orderId)),
    commitStock: ({ orderId }, ctx) => ctx.db.transaction((tx) => commit(tx, orderId)),
    getProducts: async ({ ids }, ctx) => ({ items: await getProducts(ctx.db, ids) }),
  },
})
