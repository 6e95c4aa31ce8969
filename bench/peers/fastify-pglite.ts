// Peer for the uncached read: what one would write by hand with no platform, a Fastify server and
// PGlite on disk answering GET /api/products/:id with the same primary-key read and the same JSON
// as the catalog. It uses the catalog's own table (its migrations) and product row.
// Run: PORT=… DATA_DIR=… node bench/peers/fastify-pglite.ts
import { readdir, readFile } from 'node:fs/promises'
import Fastify from 'fastify'
import { PGlite, types } from '@electric-sql/pglite'

const migrations = new URL('../../src/services/catalog/migrations/', import.meta.url)
const pg = await PGlite.create(process.env.DATA_DIR, { parsers: { [types.INT8]: (value: string) => BigInt(value) } })
for (const file of (await readdir(migrations)).sort()) await pg.exec(await readFile(new URL(file, migrations), 'utf8'))
await pg.query(`insert into products (id, name, description, price_minor, currency, category, stock)
  values ('prod-mouse', 'Wireless Mouse', 'Ergonomic wireless mouse with a silent click', 2999, 'USD', 'peripherals', 120)`)

interface Row {
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

const app = Fastify()
app.get('/health/ready', async () => ({ status: 'pass' }))
app.get<{ Params: { id: string } }>('/api/products/:id', async (request, reply) => {
  const {
    rows: [row],
  } = await pg.query<Row>(
    'select id, name, description, price_minor, currency, category, stock, image_file_id, created_at, updated_at from products where id = $1',
    [request.params.id],
  )
  if (!row) return reply.code(404).send({ title: 'Not Found' })
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: (Number(row.price_minor) / 100).toFixed(2),
    currency: row.currency,
    category: row.category,
    stock: row.stock,
    imageFileId: row.image_file_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
})
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => pg.close())
    .then(() => process.exit(0))
})
