// Peer for bench/gateway-proxy.ts: a plain Fastify + postgres.js server doing the same
// primary-key read as the catalog service (its table, in the catalog's schema), nothing else.
import Fastify from 'fastify'
import postgres from 'postgres'

const sql = postgres(process.env.DATABASE_URL!, { max: 10 })
const app = Fastify({ logger: false })
app.get('/health/ready', async () => ({ status: 'pass' }))
app.get<{ Params: { id: string } }>('/api/products/:id', async (request, reply) => {
  const [row] =
    await sql`select id, name, description, price_minor, currency, category, stock, created_at, updated_at from catalog.products where id = ${request.params.id}`
  if (!row) return reply.code(404).send({ code: 'not_found' })
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: Number(row.price_minor) / 100,
    currency: row.currency,
    category: row.category,
    stock: row.stock,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
