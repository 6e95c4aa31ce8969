// Products: the public read and write paths.
import { randomUUID } from 'node:crypto'
import {
  MosaicError,
  toMinor,
  toAmount,
  decodeCursor,
  invalidCursor,
  page,
  type Sql,
  type Static,
  type ServiceTx,
} from '../../kit/index.ts'
import type { Product, CatalogContract } from './contract.ts'

type ProductOut = Static<typeof Product>

export interface ProductRow {
  id: string
  name: string
  description: string
  price_minor: bigint
  currency: string
  category: string | null
  stock: number
  image_file_id: string | null
  created_at: Date
  updated_at: Date
}

export const columns =
  'id, name, description, price_minor, currency, category, stock, image_file_id, created_at, updated_at'

export function toProduct(row: ProductRow): ProductOut {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: toAmount(row.price_minor, row.currency),
    currency: row.currency,
    category: row.category,
    stock: row.stock,
    imageFileId: row.image_file_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

/** Cache tags: one product, and every page of products (lists and searches show any product). */
export const productTag = (id: string): string => `product:${id}`
export const productPages = 'products'

/** After any change to a product's row (stock included), once the transaction commits. */
export function invalidateProducts(tx: ServiceTx<CatalogContract>, ids: readonly string[]): void {
  tx.invalidate(...ids.map(productTag), productPages)
}

export function notFound(id: string): MosaicError {
  return new MosaicError('not_found', { detail: `product ${id} does not exist` })
}

export async function getProduct(db: Sql, id: string): Promise<ProductOut> {
  const [row] = await db.query<ProductRow>(`select ${columns} from products where id = $1`, [id])
  if (!row) throw notFound(id)
  return toProduct(row)
}

export async function getProducts(db: Sql, ids: readonly string[]): Promise<ProductOut[]> {
  const rows = await db.query<ProductRow>(`select ${columns} from products where id = any($1::text[]) order by id`, [
    ids,
  ])
  return rows.map(toProduct)
}

/**
 * Sort orders: the column, its direction, how a row's value goes into the cursor, how the cursor's
 * value goes back into SQL, and which values a cursor may carry (it comes from the client).
 * `created` cursors hold microseconds since the epoch: an ISO string keeps only milliseconds,
 * and the row a page ended on would come back at the top of the next page.
 */
interface ListRow extends ProductRow {
  created_us: bigint
}

const digits = (value: unknown): boolean => typeof value === 'string' && /^\d{1,18}$/.test(value)
const byName = {
  column: 'name',
  key: (r: ListRow) => r.name,
  sql: (p: string) => p,
  valid: (value: unknown) => typeof value === 'string',
}
const byPrice = {
  column: 'price_minor',
  key: (r: ListRow) => String(r.price_minor),
  sql: (p: string) => `${p}::bigint`,
  valid: digits,
}
const byCreated = {
  column: 'created_at',
  key: (r: ListRow) => String(r.created_us),
  sql: (p: string) => `timestamptz 'epoch' + ${p}::bigint * interval '1 microsecond'`,
  valid: digits,
}

const sorts = {
  name: { ...byName, desc: false },
  price: { ...byPrice, desc: false },
  '-price': { ...byPrice, desc: true },
  created: { ...byCreated, desc: false },
  '-created': { ...byCreated, desc: true },
} as const

export interface ListOptions {
  limit: number
  cursor?: string
  category?: string
  sort: keyof typeof sorts
}

export async function listProducts(
  db: Sql,
  options: ListOptions,
): Promise<{ items: ProductOut[]; nextCursor: string | null }> {
  const sort = sorts[options.sort]
  const params: unknown[] = []
  const where: string[] = []
  if (options.category !== undefined) {
    params.push(options.category)
    where.push(`category = $${params.length}`)
  }
  if (options.cursor !== undefined) {
    const [value, id] = decodeCursor(options.cursor, 2)
    if (!sort.valid(value) || typeof id !== 'string') throw invalidCursor()
    params.push(value, id)
    where.push(
      `(${sort.column}, id) ${sort.desc ? '<' : '>'} (${sort.sql(`$${params.length - 1}`)}, $${params.length})`,
    )
  }
  params.push(options.limit + 1)
  const direction = sort.desc ? 'desc' : 'asc'
  const rows = await db.query<ListRow>(
    `select ${columns}, (extract(epoch from created_at) * 1000000)::bigint as created_us from products ${where.length ? `where ${where.join(' and ')}` : ''}
     order by ${sort.column} ${direction}, id ${direction} limit $${params.length}`,
    params,
  )
  const result = page(rows, options.limit, (r) => [sort.key(r), r.id])
  return { items: result.items.map(toProduct), nextCursor: result.nextCursor }
}

export async function searchProducts(
  db: Sql,
  q: string,
  limit: number,
  cursor?: string,
): Promise<{ items: (ProductOut & { rank: number })[]; nextCursor: string | null }> {
  const params: unknown[] = [q]
  let after = ''
  if (cursor !== undefined) {
    const [rank, id] = decodeCursor(cursor, 2)
    if (typeof rank !== 'number' || !Number.isFinite(rank) || typeof id !== 'string') throw invalidCursor()
    params.push(rank, id)
    after = 'where rank < $2::real or (rank = $2::real and id > $3)'
  }
  params.push(limit + 1)
  const rows = await db.query<ProductRow & { rank: number }>(
    `select * from (
       select ${columns}, ts_rank(search, query) as rank
       from products, websearch_to_tsquery('english', $1) as query
       where search @@ query
     ) ranked ${after}
     order by rank desc, id asc limit $${params.length}`,
    params,
  )
  const result = page(rows, limit, (r) => [r.rank, r.id])
  return { items: result.items.map((r) => ({ ...toProduct(r), rank: r.rank })), nextCursor: result.nextCursor }
}

export interface NewProduct {
  id?: string
  name: string
  description?: string
  price: number | string
  currency?: string
  category?: string | null
  stock?: number
  imageFileId?: string | null
}

export async function createProduct(tx: ServiceTx<CatalogContract>, input: NewProduct): Promise<ProductOut> {
  const currency = input.currency ?? 'USD'
  const priceMinor = toMinor(input.price, currency)
  const [row] = await tx.query<ProductRow>(
    `insert into products (id, name, description, price_minor, currency, category, stock, image_file_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (id) do nothing returning ${columns}`,
    [
      input.id ?? `prod-${randomUUID()}`,
      input.name,
      input.description ?? '',
      priceMinor,
      currency,
      input.category ?? null,
      input.stock ?? 0,
      input.imageFileId ?? null,
    ],
  )
  if (!row) throw new MosaicError('conflict', { detail: `product ${input.id} already exists` })
  const product = toProduct(row)
  invalidateProducts(tx, [product.id])
  await tx.publish('product.created', product, { subject: product.id })
  return product
}

export type ProductChanges = Partial<Omit<NewProduct, 'id'>>

export async function updateProduct(
  tx: ServiceTx<CatalogContract>,
  id: string,
  changes: ProductChanges,
  lowStockThreshold: number,
): Promise<ProductOut> {
  const [current] = await tx.query<ProductRow>(`select ${columns} from products where id = $1 for update`, [id])
  if (!current) throw notFound(id)
  if (changes.currency !== undefined && changes.currency !== current.currency && changes.price === undefined) {
    throw new MosaicError('validation_failed', {
      issues: [{ path: '/price', code: 'required', message: 'is required when the currency changes' }],
    })
  }
  const currency = changes.currency ?? current.currency
  const [row] = await tx.query<ProductRow>(
    `update products set name = $2, description = $3, price_minor = $4, currency = $5, category = $6, stock = $7, image_file_id = $8, updated_at = now()
     where id = $1 returning ${columns}`,
    [
      id,
      changes.name ?? current.name,
      changes.description ?? current.description,
      changes.price === undefined ? current.price_minor : toMinor(changes.price, currency),
      currency,
      changes.category === undefined ? current.category : changes.category,
      changes.stock ?? current.stock,
      changes.imageFileId === undefined ? current.image_file_id : changes.imageFileId,
    ],
  )
  const product = toProduct(row!)
  invalidateProducts(tx, [id])
  await tx.publish('product.updated', product, { subject: id })
  if (product.stock <= lowStockThreshold && current.stock > lowStockThreshold) {
    await tx.publish(
      'inventory.low',
      { productId: id, stock: product.stock, threshold: lowStockThreshold },
      { subject: id },
    )
  }
  return product
}

export async function deleteProduct(tx: ServiceTx<CatalogContract>, id: string): Promise<void> {
  const held = await tx.query(
    `select 1 from reservations where status = 'reserved' and items @> $1::text::jsonb limit 1`,
    [JSON.stringify([{ productId: id }])],
  )
  if (held.length > 0)
    throw new MosaicError('conflict', {
      detail: `product ${id} has stock held for an order; release or commit it first`,
    })
  const deleted = await tx.query('delete from products where id = $1 returning id', [id])
  if (deleted.length === 0) throw notFound(id)
  invalidateProducts(tx, [id])
  await tx.publish('product.deleted', { id }, { subject: id })
}
