// The authorization matrix, generated from policies/routes/: every public route × every kind
// of caller (× own/other's object for owned routes). The expected status is derived from the route
// table, the role hierarchy (policies/roles.json) and the contract's success status; the only
// hand-written part is how to make a valid request for each route (test data). A route added to
// the table without a request here fails the coverage test, so the matrix cannot silently shrink.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { topology } from '../../src/runtime/topology.ts'
import type { Contract } from '../../src/kit/contract.ts'
import { opsContract } from '../../src/gateway/ops/contract.ts'
import { createAdmin } from '../../src/services/identity/admin.ts'
import { createPasswordHasher } from '../../src/services/identity/passwords.ts'
import { totpCode } from '../../src/services/identity/totp.ts'
import sharp from 'sharp'
import { subscribe, closePeriod } from '../../src/services/payments/subscriptions.ts'
import type { PaymentsContract } from '../../src/services/payments/contract.ts'
import type { ServiceTx } from '../../src/kit/service.ts'
import {
  startIdentityNode,
  call,
  assertProblem,
  signUp,
  register,
  login,
  identityDb,
  identityContext,
  uniqueEmail,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  PASSWORD,
  type TestNode,
  type Tokens,
  type User,
  type Reply,
} from './helpers.ts'

interface Entry {
  auth: 'public' | 'optional' | 'required'
  roles?: string[]
  owned?: boolean
  others?: string[]
}

// Read on its own (not through the code under test): every file of the route table folder.
const routesDir = new URL('../../policies/routes/', import.meta.url)
const table = {
  routes: Object.assign(
    {},
    ...readdirSync(routesDir)
      .filter((f) => f.endsWith('.json'))
      .map(
        (f) => (JSON.parse(readFileSync(new URL(f, routesDir), 'utf8')) as { routes: Record<string, Entry> }).routes,
      ),
  ) as Record<string, Entry>,
}
const hierarchy = JSON.parse(readFileSync(new URL('../../policies/roles.json', import.meta.url), 'utf8')) as Record<
  string,
  string[]
>
// The services' contracts and the gateway's own (the operator API).
const contractRoutes = new Map<string, Contract['routes'][string]>(
  [...topology.map((s) => s.definition.contract as Contract), opsContract as Contract]
    .flatMap((c) => Object.values(c.routes))
    .map((r) => [`${r.method} ${r.path}`, r]),
)

/** The roles and every role they include, read from roles.json on its own (not through the code under test). */
function effectiveRoles(roles: readonly string[]): Set<string> {
  const all = new Set<string>()
  const visit = (role: string): void => {
    if (all.has(role)) return
    all.add(role)
    for (const included of hierarchy[role] ?? []) visit(included)
  }
  roles.forEach(visit)
  return all
}

type CallerKind = 'anonymous' | 'customer' | 'staff' | 'admin'
type Whose = 'own' | 'other'
const CALLERS: readonly CallerKind[] = ['anonymous', 'customer', 'staff', 'admin']
const ROLES_OF: Record<CallerKind, string[]> = {
  anonymous: [],
  customer: ['customer'],
  staff: ['staff'],
  admin: ['admin'],
}

/** What the table says should happen, with the problem code for refusals. */
function expectedOutcome(
  route: string,
  entry: Entry,
  caller: CallerKind,
  whose: Whose | undefined,
): { status: number; code?: string } {
  const spec = contractRoutes.get(route)
  assert.ok(spec, `${route} is in the route table but in no contract`)
  // `optional`: anyone, signed in or not (a signed-in caller's credentials are checked, and these are good).
  if (entry.auth !== 'required') return { status: spec.status ?? 200 }
  if (caller === 'anonymous') return { status: 401, code: 'unauthenticated' }
  const roles = effectiveRoles(ROLES_OF[caller])
  if (entry.roles && !entry.roles.some((r) => roles.has(r))) return { status: 403, code: 'forbidden' }
  if (entry.owned && whose === 'other' && !(entry.others ?? []).some((r) => roles.has(r)))
    return { status: 404, code: 'not_found' }
  return { status: spec.status ?? 200 }
}

interface Principal {
  user: User
  tokens: Tokens
  email: string
  password: string
}

let node: TestNode
const principals = {} as Record<Exclude<CallerKind, 'anonymous'>, Principal>
let victim: User
let loginAccount: User
let product: string
let refreshChain: string

interface Built {
  path: string
  json?: unknown
  token?: string
  headers?: Record<string, string>
  form?: FormData
  after?: (reply: Reply) => Promise<void>
}
interface CaseContext {
  caller: CallerKind
  whose?: Whose
  principal?: Principal
}

async function newProduct(): Promise<string> {
  const reply = await call<{ id: string }>(node, 'POST', '/api/products', {
    token: principals.staff.tokens.accessToken,
    json: { name: `Matrix ${randomUUID().slice(0, 8)}`, price: 1, stock: 1 },
  })
  assert.equal(reply.status, 201, reply.text)
  return reply.body.id
}

const tokenOf = (c: CaseContext): string | undefined => c.principal?.tokens.accessToken

/** A small real PNG, as the files service sniffs content. */
const pngBytes = sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 10, g: 20, b: 30 } } })
  .png()
  .toBuffer()
async function pngForm(): Promise<FormData> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await pngBytes)], { type: 'image/png' }), 'matrix.png')
  return form
}

/** A file uploaded by `token`'s user, its thumbnail made when `ready`. */
async function newFile(token: string, ready = false): Promise<string> {
  const reply = await call<{ id: string }>(node, 'POST', '/api/files', { token, body: await pngForm() })
  assert.equal(reply.status, 201, reply.text)
  for (let tries = 0; ready && tries < 200; tries++) {
    if ((await call(node, 'GET', `/api/files/${reply.body.id}/thumbnail`, { token })).status === 200) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return reply.body.id
}

/** The caller's own file or the victim's; one per owner for the read-only cases, a fresh one when `fresh` (deletes). */
const filesOf = new Map<string, Promise<string>>()
async function fileFor(c: CaseContext, fresh = false): Promise<string> {
  const key = c.whose === 'own' ? c.principal!.user.id : victim.id
  const token = async (): Promise<string> =>
    c.whose === 'own' ? tokenOf(c)! : (await login(node, victim.email, PASSWORD)).accessToken
  if (fresh) return newFile(await token())
  let file = filesOf.get(key)
  if (!file) filesOf.set(key, (file = token().then((t) => newFile(t, true))))
  return file
}

/**
 * For the reads (`optional`: anyone may succeed): the caller's own private file, or the victim's
 * made public by staff, which is what anyone else may read. Private files of others (404) are
 * tried in test/files/.
 */
let victimsPublic: Promise<string> | undefined
async function readableFile(c: CaseContext): Promise<string> {
  if (c.whose === 'own') return fileFor(c)
  return (victimsPublic ??= (async () => {
    const id = await fileFor(c)
    const reply = await call(node, 'PATCH', `/api/files/${id}`, {
      token: principals.staff.tokens.accessToken,
      json: { visibility: 'public' },
    })
    assert.equal(reply.status, 200, reply.text)
    return id
  })())
}

/** How to make a valid request to each route: test data, not expectations. */
const requests: Record<string, (c: CaseContext) => Promise<Built>> = {
  'GET /api/products': async (c) => ({ path: '/api/products', token: tokenOf(c) }),
  'GET /api/products/search': async (c) => ({ path: '/api/products/search?q=matrix', token: tokenOf(c) }),
  'GET /api/products/:id': async (c) => ({ path: `/api/products/${product}`, token: tokenOf(c) }),
  'POST /api/products': async (c) => ({
    path: '/api/products',
    json: { name: `New ${randomUUID().slice(0, 8)}`, price: '2.50' },
    token: tokenOf(c),
  }),
  'PATCH /api/products/:id': async (c) => ({ path: `/api/products/${product}`, json: { stock: 7 }, token: tokenOf(c) }),
  // Destructive: a product of its own for every case.
  'DELETE /api/products/:id': async (c) => ({ path: `/api/products/${await newProduct()}`, token: tokenOf(c) }),

  'POST /api/users': async (c) => ({
    path: '/api/users',
    json: { email: uniqueEmail('matrix'), password: PASSWORD, name: 'Matrix' },
    token: tokenOf(c),
  }),
  'POST /api/users/login': async (c) => ({
    path: '/api/users/login',
    json: { email: loginAccount.email, password: PASSWORD },
    token: tokenOf(c),
  }),
  // Each refresh spends its token: the chain carries on with the successor.
  'POST /api/users/refresh': async (c) => ({
    path: '/api/users/refresh',
    json: { refreshToken: refreshChain },
    token: tokenOf(c),
    after: async (reply) => {
      if (reply.status === 200) refreshChain = (reply.body as Tokens).refreshToken
    },
  }),
  // Destructive: a fresh sign-in of the caller for every case, so their main session lives on.
  'POST /api/users/logout': async (c) => ({
    path: '/api/users/logout',
    token: c.principal ? (await login(node, c.principal.email, c.principal.password)).accessToken : undefined,
  }),
  'GET /api/users/me': async (c) => ({ path: '/api/users/me', token: tokenOf(c) }),
  'PATCH /api/users/me': async (c) => ({
    path: '/api/users/me',
    json: { name: `Renamed ${c.caller}` },
    token: tokenOf(c),
  }),
  'POST /api/users/me/mfa/totp': async (c) => ({
    path: '/api/users/me/mfa/totp',
    json: { currentPassword: c.principal?.password ?? PASSWORD },
    token: tokenOf(c),
    after: async () => {
      if (c.principal) await resetTotp(c.principal.user.id)
    },
  }),
  // Needs an enrolment waiting and its current code; TOTP is switched off again afterwards so
  // the caller can still sign in with a password alone.
  'POST /api/users/me/mfa/totp/verify': async (c) => {
    let code = '000000'
    if (c.principal) {
      const enrol = await call<{ secret: string }>(node, 'POST', '/api/users/me/mfa/totp', {
        token: tokenOf(c),
        json: { currentPassword: c.principal.password },
      })
      assert.equal(enrol.status, 200, enrol.text)
      code = totpCode(enrol.body.secret, Date.now())
    }
    return {
      path: '/api/users/me/mfa/totp/verify',
      json: { code },
      token: tokenOf(c),
      after: async () => {
        if (c.principal) await resetTotp(c.principal.user.id)
      },
    }
  },
  // Needs TOTP on (set in the database); reset afterwards whatever the answer.
  'POST /api/users/me/mfa/disable': async (c) => {
    if (c.principal)
      await identityDb(node).query("update users set totp_secret = 'JBSWY3DPEHPK3PXP' where id = $1", [
        c.principal.user.id,
      ])
    return {
      path: '/api/users/me/mfa/disable',
      json: { currentPassword: c.principal?.password ?? PASSWORD },
      token: tokenOf(c),
      after: async () => {
        if (c.principal) await resetTotp(c.principal.user.id)
      },
    }
  },
  'GET /api/users': async (c) => ({ path: '/api/users', token: tokenOf(c) }),
  'GET /api/users/:id': async (c) => ({
    path: `/api/users/${c.whose === 'own' ? c.principal!.user.id : victim.id}`,
    token: tokenOf(c),
  }),
  'PATCH /api/users/:id/roles': async (c) => ({
    path: `/api/users/${victim.id}/roles`,
    json: { roles: ['customer'] },
    token: tokenOf(c),
  }),

  'POST /api/files': async (c) => ({ path: '/api/files', form: await pngForm(), token: tokenOf(c) }),
  'GET /api/files': async (c) => ({ path: '/api/files', token: tokenOf(c) }),
  'GET /api/files/:id': async (c) => ({ path: `/api/files/${await readableFile(c)}`, token: tokenOf(c) }),
  'GET /api/files/:id/thumbnail': async (c) => ({
    path: `/api/files/${await readableFile(c)}/thumbnail`,
    token: tokenOf(c),
  }),
  // A fresh file each time: publishing the shared ones would change what the reads above are tried on.
  'PATCH /api/files/:id': async (c) => ({
    path: `/api/files/${await fileFor(c, true)}`,
    json: { visibility: 'public' },
    token: tokenOf(c),
  }),
  // Destructive: a file of its own for every case.
  'DELETE /api/files/:id': async (c) => ({ path: `/api/files/${await fileFor(c, true)}`, token: tokenOf(c) }),

  // Payments and billing: objects of the caller's own, or the victim's, made through the service.
  'GET /api/payments': async (c) => ({ path: '/api/payments', token: tokenOf(c) }),
  'GET /api/payments/:id': async (c) => ({
    path: `/api/payments/${await capturedPayment(ownerOf(c))}`,
    token: tokenOf(c),
  }),
  'POST /api/payments/:id/refund': async (c) => ({
    path: `/api/payments/${await capturedPayment(victim.id)}/refund`,
    json: { amount: 1 },
    token: tokenOf(c),
    headers: { 'idempotency-key': randomUUID() },
  }),
  'GET /api/invoices': async (c) => ({ path: '/api/invoices', token: tokenOf(c) }),
  'GET /api/invoices/:id': async (c) => ({
    path: `/api/invoices/${(await billedSubscription(ownerOf(c))).invoiceId}`,
    token: tokenOf(c),
  }),
  'GET /api/subscriptions/plans': async (c) => ({ path: '/api/subscriptions/plans', token: tokenOf(c) }),
  'POST /api/subscriptions': async (c) => ({
    path: '/api/subscriptions',
    json: { planId: 'basic' },
    token: tokenOf(c),
  }),
  'GET /api/subscriptions/:id': async (c) => ({
    path: `/api/subscriptions/${(await billedSubscription(ownerOf(c))).id}`,
    token: tokenOf(c),
  }),
  'POST /api/subscriptions/:id/usage': async (c) => ({
    path: `/api/subscriptions/${(await billedSubscription(ownerOf(c))).id}/usage`,
    json: { quantity: 1 },
    token: tokenOf(c),
  }),
  'POST /api/subscriptions/:id/invoice': async (c) => ({
    path: `/api/subscriptions/${(await billedSubscription(victim.id)).id}/invoice`,
    token: tokenOf(c),
    headers: { 'idempotency-key': randomUUID() },
  }),

  // Anonymous tracking needs a visitor id; every caller sends one (a signed-in caller's is kept beside their user id).
  'POST /api/analytics/events': async (c) => ({
    path: '/api/analytics/events',
    json: { name: 'matrix_checked', visitorId: `matrix-${c.caller}`, properties: { caller: c.caller } },
    token: tokenOf(c),
  }),
  'GET /api/analytics/reports/sales': async (c) => ({
    path: '/api/analytics/reports/sales?interval=week',
    token: tokenOf(c),
  }),
  'GET /api/analytics/reports/top-products': async (c) => ({
    path: '/api/analytics/reports/top-products?limit=5',
    token: tokenOf(c),
  }),
  'GET /api/analytics/reports/funnel': async (c) => ({ path: '/api/analytics/reports/funnel', token: tokenOf(c) }),
  'GET /api/analytics/reports/failed-logins': async (c) => ({
    path: '/api/analytics/reports/failed-logins',
    token: tokenOf(c),
  }),

  'GET /api/notifications': async (c) => ({ path: '/api/notifications', token: tokenOf(c) }),
  // Everyone registered has a welcome notification: the caller's own, or the victim's.
  'GET /api/notifications/:id': async (c) => ({
    path: `/api/notifications/${await welcomeOf(c.whose === 'own' ? c.principal!.user.id : victim.id)}`,
    token: tokenOf(c),
  }),
  'GET /api/notifications/preferences': async (c) => ({ path: '/api/notifications/preferences', token: tokenOf(c) }),
  'PATCH /api/notifications/preferences': async (c) => ({
    path: '/api/notifications/preferences',
    json: { refund: true },
    token: tokenOf(c),
  }),
  'GET /api/notifications/mailbox': async (c) => ({ path: '/api/notifications/mailbox', token: tokenOf(c) }),

  // The operator API: administrators only; a replay with no dead letters replays none.
  'GET /api/ops/services': async (c) => ({ path: '/api/ops/services', token: tokenOf(c) }),
  'GET /api/ops/bus': async (c) => ({ path: '/api/ops/bus', token: tokenOf(c) }),
  'POST /api/ops/bus/replay': async (c) => ({
    path: '/api/ops/bus/replay',
    json: { service: 'analytics' },
    token: tokenOf(c),
  }),
  'GET /api/ops/sagas': async (c) => ({ path: '/api/ops/sagas', token: tokenOf(c) }),
  'GET /api/ops/traces': async (c) => ({ path: '/api/ops/traces', token: tokenOf(c) }),
  'GET /api/ops/traces/:traceId': async (c) => ({ path: `/api/ops/traces/${await aTraceId()}`, token: tokenOf(c) }),
  'GET /api/ops/routes': async (c) => ({ path: '/api/ops/routes', token: tokenOf(c) }),

  // Orders: placed over HTTP by their owner (the caller, or the victim); cancelling takes a fresh one each time.
  'POST /api/orders': async (c) => ({
    path: '/api/orders',
    json: { productId: await orderProduct(), quantity: 1, paymentMethod: { token: 'tok_visa' } },
    token: tokenOf(c),
    headers: { 'idempotency-key': randomUUID() },
  }),
  'GET /api/orders': async (c) => ({ path: '/api/orders', token: tokenOf(c) }),
  'GET /api/orders/user/:userId': async (c) => ({ path: `/api/orders/user/${ownerOf(c)}`, token: tokenOf(c) }),
  'GET /api/orders/:id': async (c) => ({ path: `/api/orders/${await orderFor(c)}`, token: tokenOf(c) }),
  'POST /api/orders/:id/cancel': async (c) => ({
    path: `/api/orders/${await orderFor(c, true)}/cancel`,
    token: tokenOf(c),
  }),
}

/** The id of a trace the node keeps: a public read's, made for the purpose (the operator API itself is not traced). */
async function aTraceId(): Promise<string> {
  assert.equal((await call(node, 'GET', '/api/products?limit=1')).status, 200)
  const reply = await call<{ traces: { traceId: string }[] }>(node, 'GET', '/api/ops/traces', {
    token: principals.admin.tokens.accessToken,
  })
  assert.equal(reply.status, 200, reply.text)
  return reply.body.traces[0]!.traceId
}

/** A product with stock to spare for the orders the matrix places. */
let stocked: Promise<string> | undefined
function orderProduct(): Promise<string> {
  return (stocked ??= (async () => {
    const reply = await call<{ id: string }>(node, 'POST', '/api/products', {
      token: principals.staff.tokens.accessToken,
      json: { name: `Matrix stock ${randomUUID().slice(0, 8)}`, price: 1, stock: 100_000 },
    })
    assert.equal(reply.status, 201, reply.text)
    return reply.body.id
  })())
}

/** An order of the caller's own or of the victim's: one per owner for reads, a fresh one when `fresh` (cancels). */
const ordersOf = new Map<string, Promise<string>>()
async function orderFor(c: CaseContext, fresh = false): Promise<string> {
  const place = async (): Promise<string> => {
    const token = c.whose === 'own' ? tokenOf(c)! : (await login(node, victim.email, PASSWORD)).accessToken
    const reply = await call<{ id: string }>(node, 'POST', '/api/orders', {
      token,
      json: { productId: await orderProduct(), quantity: 1, paymentMethod: { token: 'tok_visa' } },
      headers: { 'idempotency-key': randomUUID() },
    })
    assert.equal(reply.status, 202, reply.text)
    return reply.body.id
  }
  if (fresh) return place()
  let order = ordersOf.get(ownerOf(c))
  if (!order) ordersOf.set(ownerOf(c), (order = place()))
  return order
}

/** The id of a user's welcome notification, once their user.registered has been handled. */
async function welcomeOf(userId: string): Promise<string> {
  for (let tries = 0; tries < 200; tries++) {
    const [row] = await node.node.engine
      .forSchema('notifications')
      .query<{ id: string }>(`select id from notifications where user_id = $1 and kind = 'welcome'`, [userId])
    if (row) return row.id
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`no welcome notification for ${userId}`)
}

const ownerOf = (c: CaseContext): string => (c.whose === 'own' ? c.principal!.user.id : victim.id)

/** A payment of 10.00 USD, authorized and captured, for a fresh order of the user. */
async function capturedPayment(userId: string): Promise<string> {
  const payments = node.node.services.get('payments')!
  const orderId = `matrix-${randomUUID()}`
  const payment = (await payments.invoke(
    'authorizePayment',
    { key: `${orderId}:a`, orderId, userId, tenantId: 'default', amount: 10, currency: 'USD', token: 'tok_visa' },
    Date.now() + 5000,
  )) as { id: string }
  await payments.invoke('capturePayment', { key: `${orderId}:c`, orderId }, Date.now() + 5000)
  return payment.id
}

/** A basic subscription of the user with one period invoiced. */
async function billedSubscription(userId: string): Promise<{ id: string; invoiceId: string }> {
  const { db } = node.node.services.get('payments')!.context
  return db.transaction(async (tx) => {
    const subscription = await subscribe(tx, 'default', userId, 'basic')
    const invoice = await closePeriod(tx as ServiceTx<PaymentsContract>, subscription, 'matrix')
    return { id: subscription.id, invoiceId: invoice.id }
  })
}

async function resetTotp(userId: string): Promise<void> {
  await identityDb(node).query(
    'update users set totp_secret = null, totp_pending = null, totp_last_step = null where id = $1',
    [userId],
  )
}

before(async () => {
  node = await startIdentityNode()
  const adminTokens = await login(node, ADMIN_EMAIL, ADMIN_PASSWORD)
  const adminUser = (await call<User>(node, 'GET', '/api/users/me', { token: adminTokens.accessToken })).body
  principals.admin = { user: adminUser, tokens: adminTokens, email: ADMIN_EMAIL, password: ADMIN_PASSWORD }
  const customer = await signUp(node)
  principals.customer = { ...customer, password: PASSWORD }
  const staff = await signUp(node, { roles: ['staff'] })
  principals.staff = { ...staff, password: PASSWORD }
  victim = await register(node)
  loginAccount = await register(node)
  product = await newProduct()
  refreshChain = (await login(node, loginAccount.email)).refreshToken
})
after(() => node?.stop())

test('every route in the table has a request to test it with, and every route of every contract is in the table', () => {
  assert.deepEqual(Object.keys(requests).sort(), Object.keys(table.routes).sort())
  assert.deepEqual([...contractRoutes.keys()].sort(), Object.keys(table.routes).sort())
})

describe('authorization matrix (policies/routes/)', () => {
  for (const [route, entry] of Object.entries(table.routes)) {
    for (const caller of CALLERS) {
      // Anonymous callers own nothing: for owned routes they are tried on someone's object only.
      const wholes: (Whose | undefined)[] = entry.owned
        ? caller === 'anonymous'
          ? ['other']
          : ['own', 'other']
        : [undefined]
      for (const whose of wholes) {
        const expected = expectedOutcome(route, entry, caller, whose)
        test(`${route} as ${caller}${whose ? ` on ${whose === 'own' ? 'their own' : "another user's"} object` : ''} → ${expected.status}${expected.code ? ` ${expected.code}` : ''}`, async () => {
          const build = requests[route]
          assert.ok(build, `no request for ${route}`)
          const principal = caller === 'anonymous' ? undefined : principals[caller]
          const request = await build({ caller, ...(whose ? { whose } : {}), ...(principal ? { principal } : {}) })
          const [method] = route.split(' ')
          const reply = await call(node, method!, request.path, {
            ...(request.json !== undefined ? { json: request.json } : {}),
            ...(request.token ? { token: request.token } : {}),
            ...(request.headers ? { headers: request.headers } : {}),
            ...(request.form ? { body: request.form } : {}),
          })
          try {
            if (expected.code) assertProblem(reply, expected.status, expected.code, `${route} as ${caller}`)
            else {
              assert.equal(reply.status, expected.status, `${route} as ${caller}: ${reply.text}`)
              if (expected.status === 204) assert.equal(reply.text, '')
            }
          } finally {
            await request.after?.(reply)
          }
        })
      }
    }
  }
})

test('the matrix is not vacuous: it has successes, 401s, 403s and 404s', () => {
  const seen = new Set<number>()
  for (const [route, entry] of Object.entries(table.routes)) {
    for (const caller of CALLERS)
      for (const whose of entry.owned ? (['own', 'other'] as const) : [undefined])
        seen.add(expectedOutcome(route, entry, caller, whose).status)
  }
  for (const status of [200, 201, 204, 401, 403, 404]) assert.ok(seen.has(status), `no case expects ${status}`)
})

describe('tenants', () => {
  let acmeAdmin: Tokens
  let acmeUser: User
  let acmeAdminUser: User

  before(async () => {
    const created = await createAdmin(identityContext(node).db, createPasswordHasher({ concurrency: 1 }), {
      email: 'boss@acme.test',
      password: ADMIN_PASSWORD,
      tenant: 'acme',
    })
    assert.ok(created)
    acmeAdminUser = created
    acmeUser = await register(node, { tenant: 'acme' })
    acmeAdmin = await login(node, 'boss@acme.test', ADMIN_PASSWORD, { tenant: 'acme' })
  })

  test('an admin of acme cannot read, nor change the roles of, a default-tenant user: 404, as if absent', async () => {
    assert.equal(
      (await call(node, 'GET', `/api/users/${acmeUser.id}`, { token: acmeAdmin.accessToken })).status,
      200,
      'their own tenant, yes',
    )
    assertProblem(
      await call(node, 'GET', `/api/users/${victim.id}`, { token: acmeAdmin.accessToken }),
      404,
      'not_found',
    )
    assertProblem(
      await call(node, 'GET', `/api/users/${principals.admin.user.id}`, { token: acmeAdmin.accessToken }),
      404,
      'not_found',
    )
    assertProblem(
      await call(node, 'PATCH', `/api/users/${victim.id}/roles`, {
        token: acmeAdmin.accessToken,
        json: { roles: ['admin'] },
      }),
      404,
      'not_found',
    )
    const [row] = await identityDb(node).query<{ roles: string[] }>('select roles from users where id = $1', [
      victim.id,
    ])
    assert.deepEqual(row!.roles, ['customer'])
  })

  test('the user list of an acme admin holds acme users only, and the default admin never sees them', async () => {
    const list = await call<{ items: User[] }>(node, 'GET', '/api/users?limit=100', { token: acmeAdmin.accessToken })
    assert.equal(list.status, 200, list.text)
    assert.deepEqual(list.body.items.map((u) => u.id).sort(), [acmeAdminUser.id, acmeUser.id].sort())
    assert.ok(list.body.items.every((u) => u.tenantId === 'acme'))

    const defaults = await call<{ items: User[]; nextCursor: string | null }>(node, 'GET', '/api/users?limit=100', {
      token: principals.admin.tokens.accessToken,
    })
    assert.equal(defaults.status, 200)
    assert.ok(defaults.body.items.length > 0)
    assert.ok(
      defaults.body.items.every((u) => u.tenantId === 'default'),
      'no acme user in the default tenant',
    )
    assertProblem(
      await call(node, 'GET', `/api/users/${acmeUser.id}`, { token: principals.admin.tokens.accessToken }),
      404,
      'not_found',
    )
  })

  test('an acme account does not sign in to the default tenant', async () => {
    const reply = await call(node, 'POST', '/api/users/login', {
      json: { email: 'boss@acme.test', password: ADMIN_PASSWORD },
    })
    assertProblem(reply, 401, 'invalid_credentials')
  })
})
