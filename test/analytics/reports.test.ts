// The reports: staff only and per tenant, exact money, day/week/month periods, CSV with escaping,
// bad ranges refused; fed by real identity and catalog events through the gateway and by order and
// payment events put on the bus as their producers would.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startAnalyticsNode, deliver, envelope, analyticsDb } from './helpers.ts'
import {
  call,
  assertProblem,
  assertFieldError,
  signUp,
  tryLogin,
  eventually,
  identityContext,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  login,
  type TestNode,
  type Tokens,
} from '../identity/helpers.ts'
import { toCsv } from '../../src/services/analytics/csv.ts'
import { createAdmin } from '../../src/services/identity/admin.ts'
import { createPasswordHasher } from '../../src/services/identity/passwords.ts'

let node: TestNode
let staff: Tokens
let customer: Awaited<ReturnType<typeof signUp>>
let acmeStaff: Tokens

const line = (productId: string, name: string, quantity: number, unitPrice: number, currency = 'USD') => ({
  productId,
  name,
  quantity,
  unitPrice,
  currency,
})
const order = (orderId: string, userId: string, items: ReturnType<typeof line>[], tenantId = 'default') => {
  const currency = items[0]!.currency
  const cents = items.reduce((s, l) => s + Math.round(l.unitPrice * 100) * l.quantity, 0)
  return { orderId, userId, tenantId, items, total: cents / 100, currency }
}

before(async () => {
  node = await startAnalyticsNode()
  staff = await login(node, ADMIN_EMAIL, ADMIN_PASSWORD)
  customer = await signUp(node)
  // Another tenant's administrator (so staff there): tenants come into being with their first admin.
  assert.ok(
    await createAdmin(identityContext(node).db, createPasswordHasher({ concurrency: 1 }), {
      email: 'boss@acme.test',
      password: ADMIN_PASSWORD,
      tenant: 'acme',
    }),
  )
  acmeStaff = await login(node, 'boss@acme.test', ADMIN_PASSWORD, { tenant: 'acme' })
  const evil = order('o-2', 'u-b', [
    line('p-evil', '=HYPERLINK("http://x","a, b")', 1, 5),
    line('p-plus', '+1 "quoted"\nline', 2, 0.1),
  ])
  await deliver(node, [
    // A confirmation delivered before its placement, on another day.
    envelope(
      'orders',
      'order.confirmed',
      { ...order('o-1', 'u-a', [line('p-a', 'Alpha', 3, 0.1), line('p-b', 'Beta', 1, 0.2)]), paymentId: 'pay-1' },
      { time: '2025-03-04T09:00:00Z' },
    ),
    envelope(
      'orders',
      'order.placed',
      order('o-1', 'u-a', [line('p-a', 'Alpha', 3, 0.1), line('p-b', 'Beta', 1, 0.2)]),
      { time: '2025-03-03T23:59:59.999Z' },
    ),
    envelope('orders', 'order.placed', evil, { time: '2025-03-10T12:00:00Z' }),
    envelope('orders', 'order.confirmed', { ...evil, paymentId: 'pay-2' }, { time: '2025-03-10T12:05:00Z' }),
    envelope('orders', 'order.placed', order('o-3', 'u-c', [line('p-a', 'Alpha', 1, 100, 'JPY')]), {
      time: '2025-03-31T10:00:00Z',
    }),
    envelope(
      'payments',
      'payment.refunded',
      {
        paymentId: 'pay-1',
        orderId: 'o-1',
        userId: 'u-a',
        tenantId: 'default',
        amount: 0.3,
        currency: 'USD',
        refundId: 'r-1',
        refunded: 0.3,
      },
      { time: '2025-03-11T00:00:00Z' },
    ),
    envelope('orders', 'order.placed', order('o-acme', 'u-z', [line('p-a', 'Alpha', 1, 1)], 'acme'), {
      time: '2025-03-04T10:00:00Z',
    }),
  ])
})
after(() => node?.stop())

const get = (path: string, token = staff.accessToken, headers: Record<string, string> = {}) =>
  call(node, 'GET', path, { token, headers })

test('reports are for staff: anonymous 401, customer 403, staff 200', async () => {
  for (const path of [
    '/api/analytics/reports/sales',
    '/api/analytics/reports/top-products',
    '/api/analytics/reports/funnel',
    '/api/analytics/reports/failed-logins',
  ]) {
    assertProblem(await call(node, 'GET', path), 401, 'unauthenticated')
    assertProblem(await get(path, customer.tokens.accessToken), 403, 'forbidden')
    assert.equal((await get(path)).status, 200, path)
  }
})

test('sales per day: exact sums in minor units, keyed by each event’s own day and currency', async () => {
  const reply = await get('/api/analytics/reports/sales?from=2025-03-01&to=2025-03-31')
  assert.equal(reply.status, 200, reply.text)
  assert.deepEqual((reply.body as { rows: unknown[] }).rows, [
    { period: '2025-03-03', currency: 'USD', ordersPlaced: 1, ordersConfirmed: 0, revenue: 0, refunds: 0 },
    { period: '2025-03-04', currency: 'USD', ordersPlaced: 0, ordersConfirmed: 1, revenue: 0.5, refunds: 0 },
    { period: '2025-03-10', currency: 'USD', ordersPlaced: 1, ordersConfirmed: 1, revenue: 5.2, refunds: 0 },
    { period: '2025-03-11', currency: 'USD', ordersPlaced: 0, ordersConfirmed: 0, revenue: 0, refunds: 0.3 },
    { period: '2025-03-31', currency: 'JPY', ordersPlaced: 1, ordersConfirmed: 0, revenue: 0, refunds: 0 },
  ])
})

test('sales per week (from Monday) and per month; other tenants’ figures stay theirs', async () => {
  const weeks = (await get('/api/analytics/reports/sales?from=2025-03-01&to=2025-03-31&interval=week')).body as {
    rows: { period: string; currency: string; ordersPlaced: number; revenue: number }[]
  }
  assert.deepEqual(
    weeks.rows.map((r) => [r.period, r.currency, r.ordersPlaced, r.revenue]),
    [
      ['2025-03-03', 'USD', 1, 0.5],
      ['2025-03-10', 'USD', 1, 5.2],
      ['2025-03-31', 'JPY', 1, 0],
    ],
  )
  const months = (await get('/api/analytics/reports/sales?from=2025-03-01&to=2025-03-31&interval=month')).body as {
    rows: {
      period: string
      currency: string
      ordersPlaced: number
      ordersConfirmed: number
      revenue: number
      refunds: number
    }[]
  }
  assert.deepEqual(months.rows, [
    { period: '2025-03-01', currency: 'JPY', ordersPlaced: 1, ordersConfirmed: 0, revenue: 0, refunds: 0 },
    { period: '2025-03-01', currency: 'USD', ordersPlaced: 2, ordersConfirmed: 2, revenue: 5.7, refunds: 0.3 },
  ])
  const acme = (await get('/api/analytics/reports/sales?from=2025-03-01&to=2025-03-31', acmeStaff.accessToken))
    .body as { rows: { ordersPlaced: number }[] }
  assert.deepEqual(
    acme.rows.map((r) => r.ordersPlaced),
    [1],
    'acme staff see acme’s order only',
  )
})

test('top products: by quantity in confirmed orders, with revenue', async () => {
  const reply = await get('/api/analytics/reports/top-products?from=2025-03-01&to=2025-03-31&limit=2')
  assert.deepEqual((reply.body as { items: unknown[] }).items, [
    { productId: 'p-a', name: 'Alpha', currency: 'USD', quantity: 3, revenue: 0.3 },
    { productId: 'p-plus', name: '+1 "quoted"\nline', currency: 'USD', quantity: 2, revenue: 0.2 },
  ])
})

test('CSV on Accept: text/csv, quoted where needed and with formulas defused', async () => {
  const reply = await get('/api/analytics/reports/top-products?from=2025-03-01&to=2025-03-31', staff.accessToken, {
    accept: 'text/csv',
  })
  assert.equal(reply.status, 200)
  assert.equal(reply.headers.get('content-type'), 'text/csv; charset=utf-8')
  assert.match(
    reply.headers.get('content-disposition') ?? '',
    /attachment; filename="top-products-2025-03-01-2025-03-31.csv"/,
  )
  assert.equal(
    reply.text,
    [
      'product_id,name,currency,quantity,revenue',
      'p-a,Alpha,USD,3,0.3',
      'p-plus,"\'+1 ""quoted""\nline",USD,2,0.2',
      'p-evil,"\'=HYPERLINK(""http://x"",""a, b"")",USD,1,5',
      'p-b,Beta,USD,1,0.2',
      '',
    ].join('\r\n'),
  )
  const sales = await get(
    '/api/analytics/reports/sales?from=2025-03-01&to=2025-03-31&interval=month',
    staff.accessToken,
    { accept: 'text/csv' },
  )
  assert.equal(
    sales.text,
    'period,currency,orders_placed,orders_confirmed,revenue,refunds\r\n2025-03-01,JPY,1,0,0,0\r\n2025-03-01,USD,2,2,5.7,0.3\r\n',
  )
  const json = await get('/api/analytics/reports/sales?from=2025-03-01&to=2025-03-31', staff.accessToken, {
    accept: 'application/json',
  })
  assert.match(json.headers.get('content-type') ?? '', /^application\/json/)
})

test('every formula prefix is defused in text, never in numbers', () => {
  assert.equal(
    toCsv(
      ['a', 'b', 'c', 'd', 'e'],
      [
        ['-2+3', '@SUM(A1)', '\tx', 'plain', -5],
        [null, '=1', '+1', 'a\rb', 0],
      ],
    ),
    "a,b,c,d,e\r\n'-2+3,'@SUM(A1),'\tx,plain,-5\r\n,'=1,'+1,\"a\rb\",0\r\n",
  )
})

test('bad query parameters are a 400 naming the parameter', async () => {
  const base = '/api/analytics/reports/sales'
  assertFieldError(await get(`${base}?from=2025-02-30&to=2025-03-01`), '/from', 'invalid_parameters', 400)
  assertFieldError(await get(`${base}?from=03/01/2025`), '/from', 'invalid_parameters', 400)
  assertFieldError(await get(`${base}?from=2025-03-02&to=2025-03-01`), '/from', 'invalid_parameters', 400)
  assertFieldError(await get(`${base}?from=2020-01-01&to=2025-03-01`), '/from', 'invalid_parameters', 400)
  assertFieldError(await get(`${base}?interval=year`), '/interval', 'invalid_parameters', 400)
  assertFieldError(await get(`${base}?color=red`), '/color', 'invalid_parameters', 400)
  assertFieldError(await get('/api/analytics/reports/top-products?limit=0'), '/limit', 'invalid_parameters', 400)
  assertFieldError(await get('/api/analytics/reports/top-products?limit=1000'), '/limit', 'invalid_parameters', 400)
  assertFieldError(await get('/api/analytics/reports/funnel?to=2025-13-01'), '/to', 'invalid_parameters', 400)
})

test('real identity and catalog events arrive through the gateway: failed logins per day; registrations kept without email', async () => {
  const today = new Date().toISOString().slice(0, 10)
  const failures = async () =>
    (
      (await get(`/api/analytics/reports/failed-logins?from=${today}&to=${today}`)).body as {
        rows: { failures: number }[]
      }
    ).rows[0]?.failures ?? 0
  const before = await failures()
  for (let i = 0; i < 2; i++) assert.equal((await tryLogin(node, customer.email, 'wrong password, surely')).status, 401)
  await eventually('two failed logins counted', async () => (await failures()) === before + 2)
  const [registered] = await analyticsDb(node).query<{ data: Record<string, unknown>; user_id: string }>(
    "select data, user_id from events where type = 'user.registered' and user_id = $1",
    [customer.user.id],
  )
  assert.equal(registered!.user_id, customer.user.id)
  assert.equal(registered!.data.email, undefined, 'analytics keeps no email address')
  assert.equal(
    (
      await call(node, 'POST', '/api/products', {
        token: staff.accessToken,
        json: { id: 'prod-analytics', name: 'Tracked', price: 1 },
      })
    ).status,
    201,
  )
  await eventually(
    'product.created recorded',
    async () =>
      (
        await analyticsDb(node).query(
          "select 1 from events where type = 'product.created' and subject = 'prod-analytics' and source = 'catalog'",
        )
      ).length === 1,
  )
})

test('funnel: distinct actors who viewed, then placed, then confirmed; anonymous views count as visitors', async () => {
  const today = new Date().toISOString().slice(0, 10)
  const funnel = async () =>
    (
      (await get(`/api/analytics/reports/funnel?from=${today}&to=${today}`)).body as {
        stages: { stage: string; actors: number; events: number; conversion: number | null }[]
      }
    ).stages
  const start = await funnel()
  const view = (headers: Record<string, string>, token?: string) =>
    call(node, 'POST', '/api/analytics/events', {
      json: { name: 'product_viewed', properties: { productId: 'prod-analytics' } },
      headers,
      ...(token ? { token } : {}),
    })
  assert.equal((await view({}, customer.tokens.accessToken)).status, 202)
  assert.equal((await view({}, customer.tokens.accessToken)).status, 202)
  assert.equal((await view({ 'x-visitor-id': 'funnel-visitor-1' })).status, 202)
  const placed = order('o-funnel', customer.user.id, [line('prod-analytics', 'Tracked', 1, 1)])
  await deliver(node, [
    envelope('orders', 'order.placed', placed),
    envelope('orders', 'order.confirmed', { ...placed, paymentId: 'pay-f' }),
  ])
  const end = await funnel()
  assert.deepEqual(
    end.map((s, i) => [s.stage, s.actors - start[i]!.actors, s.events - start[i]!.events]),
    [
      ['product_viewed', 2, 3],
      ['order_placed', 1, 1],
      ['order_confirmed', 1, 1],
    ],
  )
  assert.equal(end[0]!.conversion, null)
  const csv = await get(`/api/analytics/reports/funnel?from=${today}&to=${today}`, staff.accessToken, {
    accept: 'text/csv',
  })
  assert.match(csv.text, /^stage,actors,events,conversion\r\nproduct_viewed,\d+,\d+,\r\norder_placed,/)
})
