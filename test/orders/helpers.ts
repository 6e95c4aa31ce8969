// Shared by the orders suites: a real node (gateway with identity, catalog, payments and orders
// in-process, PGlite in memory unless DATABASE_URL is given) driven over real HTTP with fetch;
// customers signed up over HTTP, products created as the first admin, and checks that read the
// catalog's and the payments' own state through their actions (not their tables).
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import payments from '../../src/services/payments/service.ts'
import orders from '../../src/services/orders/service.ts'
import { testEnv, login } from '../auth.ts'
import { call, type Reply } from '../helpers/http.ts'
import { customer } from '../helpers/users.ts'
import type { AnyService } from '../../src/kit/service.ts'

export { PASSWORD } from '../helpers/users.ts'

/** Small timeouts so failure paths settle in a second or two. */
export const sagaEnv = {
  ORDERS_SAGA_TIMEOUT_MS: '1500',
  ORDERS_STEP_TIMEOUT_MS: '400',
  ORDERS_RETRY_BASE_MS: '50',
  ORDERS_RETRY_MAX_MS: '200',
  ORDERS_SAGA_POLL_MS: '100',
  ORDERS_SAGA_LEASE_MS: '1500',
  ORDERS_IDEMPOTENCY_WAIT_MS: '1000',
} as const

export const services = [identity, catalog, payments, orders]

/** The same services with another payments instance (say, one built on a provider a test can steer). */
export const servicesWith = (paymentsService: typeof payments): typeof services => [
  identity,
  catalog,
  paymentsService,
  orders,
]

export type { Reply } from '../helpers/http.ts'

export interface Order {
  id: string
  userId: string
  tenantId: string
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED'
  items: { productId: string; name: string; quantity: number; unitPrice: number; currency: string }[]
  total: number
  currency: string
  reason: string | null
  detail: string | null
  paymentId: string | null
  refunded: boolean
  createdAt: string
  updatedAt: string
}

export interface Problem {
  status: number
  code: string
  detail?: string
  errors?: { path: string; code: string }[]
}

export class Harness {
  readonly node: MosaicNode
  adminToken = ''
  constructor(node: MosaicNode) {
    this.node = node
  }

  get url(): string {
    return this.node.url
  }

  call<T = unknown>(
    method: string,
    path: string,
    options: { token?: string; json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Reply<T>> {
    const { token, ...rest } = options
    return call<T>(this, method, path, { ...rest, ...(token ? { token } : {}) })
  }

  /** A new customer account, signed in. */
  async customer(): Promise<{ token: string; userId: string }> {
    const { token, userId } = await customer(this, {
      email: `buyer-${randomUUID().slice(0, 8)}@orders.test`,
      name: 'Buyer',
    })
    return { token, userId }
  }

  async product(stock: number, price: number | string = '12.50', currency = 'EUR'): Promise<string> {
    const id = `p-${randomUUID().slice(0, 12)}`
    const reply = await this.call('POST', '/api/products', {
      token: this.adminToken,
      json: { id, name: `Thing ${id}`, price, currency, stock },
    })
    assert.equal(reply.status, 201, reply.text)
    return id
  }

  async stock(productId: string): Promise<number> {
    const reply = await this.call<{ stock: number }>('GET', `/api/products/${productId}`)
    assert.equal(reply.status, 200, reply.text)
    return reply.body.stock
  }

  /** POST /api/orders with a fresh key unless given. */
  place(token: string, body: unknown, options: { key?: string | null; wait?: number } = {}): Promise<Reply<Order>> {
    const headers: Record<string, string> = {}
    const key = options.key === undefined ? randomUUID() : options.key
    if (key !== null) headers['idempotency-key'] = key
    if (options.wait !== undefined) headers.prefer = `wait=${options.wait}`
    return this.call<Order>('POST', '/api/orders', { token, json: body, headers })
  }

  /** Polls the order until it is no longer PENDING. */
  async settle(token: string, id: string, timeoutMs = 15_000): Promise<Order> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const reply = await this.call<Order>('GET', `/api/orders/${id}`, { token })
      assert.equal(reply.status, 200, reply.text)
      if (reply.body.status !== 'PENDING') return reply.body
      assert.ok(Date.now() < until, `order ${id} still PENDING after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** The payment of an order as the payments service recorded it (read from its own schema: a test may look). */
  async payment(
    orderId: string,
  ): Promise<{ status: string; amount: number; captured: number; refunded: number } | null> {
    const rows = await this.node.services
      .get('payments')!
      .context.db.query<{ status: string; amount: bigint | null; captured: bigint; refunded: bigint }>(
        'select status, amount_minor as amount, captured_minor as captured, refunded_minor as refunded from payments where order_id = $1',
        [orderId],
      )
    const row = rows[0]
    return row
      ? {
          status: row.status,
          amount: Number(row.amount ?? 0n),
          captured: Number(row.captured),
          refunded: Number(row.refunded),
        }
      : null
  }

  /** The catalog's reservation of an order (its own table, read by the test). */
  async reservation(orderId: string): Promise<string | null> {
    const rows = await this.node.services
      .get('catalog')!
      .context.db.query<{ status: string }>('select status from reservations where order_id = $1', [orderId])
    return rows[0]?.status ?? null
  }

  stop(): Promise<void> {
    return this.node.stop()
  }
}

export async function startOrdersNode(
  env: Record<string, string> = {},
  using: readonly AnyService[] = services,
): Promise<Harness> {
  const node = await startNode({
    role: 'gateway',
    services: using,
    port: 0,
    env: testEnv({
      ...sagaEnv,
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      ...env,
    }),
  })
  const harness = new Harness(node)
  harness.adminToken = (await login(node.url)).accessToken
  return harness
}

/** A fresh database on the local PostgreSQL server (POSTGRES_ADMIN_URL), dropped by `drop`. */
export async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const { default: postgres } = await import('postgres')
  const { randomBytes } = await import('node:crypto')
  const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const name = `mosaic_orders_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end({ timeout: 5 })
    },
  }
}
