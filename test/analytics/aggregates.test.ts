// The aggregates equal a recomputation from scratch: random mixes of events (seeded, so a failure
// can be replayed) are delivered through the bus with duplicates and in shuffled order, some
// confirmations before their placements, and every aggregate table is compared with what a
// plain JS fold over the distinct events gives.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startAnalyticsNode, deliver, envelope, analyticsDb } from './helpers.ts'
import { fromCloudEvent, record, recordAll, type Recorded } from '../../src/services/analytics/events.ts'
import { toMinor } from '../../src/kit/money.ts'
import type { CloudEvent } from '../../src/kit/contract.ts'
import type { TestNode } from '../identity/helpers.ts'

let node: TestNode
before(async () => {
  node = await startAnalyticsNode()
})
after(() => node?.stop())

/** mulberry32: a small seeded generator, so a failing seed reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Mix {
  domain: CloudEvent[]
  views: Recorded[]
}

function generate(seed: number, count: number): Mix {
  const rnd = random(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const tenants = [`t${seed}-a`, `t${seed}-b`]
  const users = ['u1', 'u2', 'u3', 'u4', 'u5']
  const currencies = ['USD', 'EUR', 'JPY'] as const
  const products = ['p-1', 'p-2', 'p-3', 'p-4']
  // Times over six days, to the millisecond, some right at midnight UTC (a day's edge).
  const timeOf = () =>
    new Date(
      Date.UTC(
        2025,
        0,
        10 + Math.floor(rnd() * 6),
        rnd() < 0.1 ? 0 : Math.floor(rnd() * 24),
        Math.floor(rnd() * 60),
        0,
        Math.floor(rnd() * 1000),
      ),
    ).toISOString()
  const domain: CloudEvent[] = []
  const views: Recorded[] = []
  for (let i = 0; i < count; i++) {
    const tenantId = pick(tenants)
    const userId = pick(users)
    const kind = rnd()
    if (kind < 0.4) {
      const currency = pick(currencies)
      const cents = currency === 'JPY' ? 1 : 100
      const items = Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, j) => ({
        productId: pick(products),
        name: `Product ${j} "${seed}", v${Math.floor(rnd() * 3)}`,
        quantity: 1 + Math.floor(rnd() * 4),
        unitPrice: Math.floor(rnd() * 5000 * cents) / cents,
        currency,
      }))
      const total = items.reduce((sum, l) => sum + toMinor(l.unitPrice, currency) * BigInt(l.quantity), 0n)
      const order = { orderId: `o-${seed}-${i}`, userId, tenantId, items, total: Number(total) / cents, currency }
      domain.push(envelope('orders', 'order.placed', order, { time: timeOf() }))
      // The confirmation's time is independent of the placement's: it may come first, or a day earlier.
      if (rnd() < 0.7)
        domain.push(envelope('orders', 'order.confirmed', { ...order, paymentId: `pay-${i}` }, { time: timeOf() }))
    } else if (kind < 0.5) {
      const currency = pick(currencies)
      domain.push(
        envelope(
          'payments',
          'payment.refunded',
          {
            paymentId: `pay-${i}`,
            orderId: `o-${i}`,
            userId,
            tenantId,
            amount: Math.floor(rnd() * 100),
            currency,
            refundId: `r-${i}`,
            refunded: 0,
          },
          { time: timeOf() },
        ),
      )
    } else if (kind < 0.65) {
      domain.push(
        envelope('identity', 'user.login_failed', { userId, tenantId, reason: 'bad_password' }, { time: timeOf() }),
      )
    } else if (kind < 0.7) {
      domain.push(envelope('catalog', 'product.deleted', { id: pick(products) }, { time: timeOf() }))
    } else {
      const anonymous = rnd() < 0.4
      views.push({
        id: `view-${seed}-${i}`,
        source: 'client',
        type: 'product_viewed',
        time: timeOf(),
        subject: null,
        tenantId,
        userId: anonymous ? null : userId,
        visitorId: anonymous ? `visitor-${Math.floor(rnd() * 3)}` : null,
        data: { productId: pick(products) },
      })
    }
  }
  return { domain, views }
}

/** The deliveries: every event once or more, all shuffled (Fisher–Yates with the same seed). */
function withDuplicatesShuffled<T>(seed: number, xs: readonly T[]): T[] {
  const rnd = random(seed * 7919)
  const out = xs.flatMap((x) => (rnd() < 0.3 ? [x, x] : rnd() < 0.05 ? [x, x, x] : [x]))
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

const day = (time: string) => time.slice(0, 10)
type Row = Record<string, string>
const add = (map: Map<string, Row>, key: string[], fields: Record<string, bigint>, names: string[]) => {
  const k = key.join('|')
  const row = map.get(k) ?? Object.fromEntries(names.map((n, i) => [n, key[i]!]))
  for (const [f, v] of Object.entries(fields)) row[f] = String(BigInt(row[f] ?? '0') + v)
  map.set(k, row)
}

/** The aggregates as a from-scratch fold over the distinct events: what the tables must hold. */
function expected(mix: Mix) {
  const sales = new Map<string, Row>()
  const products = new Map<string, Row & { nameKey?: string }>()
  const funnel = new Map<string, Row>()
  const logins = new Map<string, Row>()
  const salesKey = ['tenant_id', 'day', 'currency']
  for (const e of mix.domain) {
    const d = e.data as {
      tenantId: string
      userId: string
      currency: string
      total: number
      amount: number
      items: { productId: string; name: string; quantity: number; unitPrice: number; currency: string }[]
    }
    const key = [d.tenantId, day(e.time)]
    if (e.type === 'order.placed') {
      add(sales, [...key, d.currency], { orders_placed: 1n }, salesKey)
      add(funnel, [...key, 'order_placed', `user:${d.userId}`], { events: 1n }, ['tenant_id', 'day', 'stage', 'actor'])
    } else if (e.type === 'order.confirmed') {
      add(sales, [...key, d.currency], { orders_confirmed: 1n, revenue_minor: toMinor(d.total, d.currency) }, salesKey)
      add(funnel, [...key, 'order_confirmed', `user:${d.userId}`], { events: 1n }, [
        'tenant_id',
        'day',
        'stage',
        'actor',
      ])
      for (const l of d.items) {
        const k = [...key, l.productId, l.currency]
        add(
          products,
          k,
          { quantity: BigInt(l.quantity), revenue_minor: toMinor(l.unitPrice, l.currency) * BigInt(l.quantity) },
          ['tenant_id', 'day', 'product_id', 'currency'],
        )
        // The name of the latest event by (time, id).
        const row = products.get(k.join('|'))!
        const nameKey = `${e.time}|${e.id}`
        if (!row.nameKey || nameKey > row.nameKey) Object.assign(row, { name: l.name, nameKey })
      }
    } else if (e.type === 'payment.refunded') {
      add(sales, [...key, d.currency], { refunds_minor: toMinor(d.amount, d.currency) }, salesKey)
    } else if (e.type === 'user.login_failed') {
      add(logins, key, { failures: 1n }, ['tenant_id', 'day'])
    }
  }
  for (const v of mix.views) {
    add(
      funnel,
      [v.tenantId!, day(v.time), 'product_viewed', v.userId ? `user:${v.userId}` : `visitor:${v.visitorId}`],
      { events: 1n },
      ['tenant_id', 'day', 'stage', 'actor'],
    )
  }
  const sorted = (m: Map<string, Row>) =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, { nameKey: _, ...row }]) => row)
  return { sales: sorted(sales), products: sorted(products), funnel: sorted(funnel), logins: sorted(logins) }
}

/** The tables, as strings, with every zero column of the fold's absent rows filled in. */
async function actual(tenants: string[]) {
  const db = analyticsDb(node)
  const q = async (sql: string) =>
    (await db.query<Record<string, unknown>>(sql, [tenants])).map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString().slice(0, 10) : String(v)]),
      ),
    )
  const drop0 = (rows: Record<string, string>[]) =>
    rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== '0')))
  return {
    sales: drop0(
      await q(`select tenant_id, to_char(day, 'YYYY-MM-DD') as day, currency, orders_placed, orders_confirmed, revenue_minor, refunds_minor
      from sales_daily where tenant_id = any($1) order by tenant_id || '|' || to_char(day, 'YYYY-MM-DD') || '|' || currency collate "C"`),
    ),
    products:
      await q(`select tenant_id, to_char(day, 'YYYY-MM-DD') as day, product_id, currency, quantity, revenue_minor, name
      from product_sales_daily where tenant_id = any($1) order by concat_ws('|', tenant_id, to_char(day, 'YYYY-MM-DD'), product_id, currency) collate "C"`),
    funnel: await q(`select tenant_id, to_char(day, 'YYYY-MM-DD') as day, stage, actor, events
      from funnel_daily where tenant_id = any($1) order by concat_ws('|', tenant_id, to_char(day, 'YYYY-MM-DD'), stage, actor) collate "C"`),
    logins: await q(`select tenant_id, to_char(day, 'YYYY-MM-DD') as day, failures
      from failed_logins_daily where tenant_id = any($1) order by concat_ws('|', tenant_id, to_char(day, 'YYYY-MM-DD')) collate "C"`),
  }
}

for (const seed of [1, 2, 3]) {
  test(`seed ${seed}: aggregates after shuffled, duplicated delivery equal a recomputation from the distinct events`, async () => {
    const mix = generate(seed, 120)
    const tenants = [`t${seed}-a`, `t${seed}-b`]
    const deliveries = withDuplicatesShuffled(seed, mix.domain)
    assert.ok(deliveries.length > mix.domain.length, 'some events are delivered more than once')
    // Tracking events are recorded by the function the route and the subscriptions use, duplicated
    // and shuffled the same way, several at a time (a repeat may fall in the same statement).
    const db = node.node.services.get('analytics')!.context.db
    const views = withDuplicatesShuffled(seed + 100, mix.views)
    let recorded = 0
    for (let i = 0; i < views.length; i += 7)
      recorded += await db.transaction((tx) => recordAll(tx, views.slice(i, i + 7)))
    assert.equal(recorded, mix.views.length, 'a repeated tracking id is recorded once')
    // In two halves, with the bus working in between: a redelivery may come long after the first.
    const half = Math.floor(deliveries.length / 2)
    await deliver(node, deliveries.slice(0, half))
    await deliver(node, deliveries.slice(half))

    const [count] = await analyticsDb(node).query<{ n: bigint }>(
      "select count(*) as n from events where tenant_id = any($1) or (type = 'product.deleted' and time >= '2025-01-10' and time < '2025-01-17')",
      [tenants],
    )
    assert.ok(
      count!.n >=
        BigInt(mix.domain.length + mix.views.length - mix.domain.filter((e) => e.type === 'product.deleted').length),
    )
    const [mine] = await analyticsDb(node).query<{ n: bigint }>('select count(*) as n from events where id = any($1)', [
      [...mix.domain.map((e) => e.id), ...mix.views.map((v) => v.id)],
    ])
    assert.equal(mine!.n, BigInt(mix.domain.length + mix.views.length), 'each distinct event is recorded exactly once')

    const want = expected(mix)
    const got = await actual(tenants)
    assert.ok(
      want.sales.length > 3 && want.products.length > 3 && want.funnel.length > 3 && want.logins.length > 0,
      'the mix exercises every aggregate',
    )
    assert.deepEqual(
      got.sales,
      want.sales.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== '0'))),
    )
    assert.deepEqual(got.products, want.products)
    assert.deepEqual(got.funnel, want.funnel)
    assert.deepEqual(got.logins, want.logins)

    // Recording an already-recorded event again (a redelivery that got past the inbox) changes nothing.
    const again = mix.views[0]!
    assert.equal(await db.transaction((tx) => record(tx, again)), false)
    assert.deepEqual(await actual(tenants), got)
  })
}

test('a batch writes each aggregate table it adds to in one statement, whatever its size', async () => {
  const tenantId = `t-batch-${Date.now()}`
  const orders = Array.from({ length: 6 }, (_, i) => ({
    orderId: `o-batch-${i}`,
    userId: `u${i % 2}`,
    tenantId,
    items: [{ productId: 'p-1', name: 'One', quantity: 1, unitPrice: 2.5, currency: 'EUR' }],
    total: 2.5,
    currency: 'EUR',
  }))
  const events = orders.flatMap((order) => [
    fromCloudEvent('orders', envelope('orders', 'order.placed', order, { time: '2025-02-01T10:00:00.000Z' })),
    fromCloudEvent('orders', envelope('orders', 'order.confirmed', order, { time: '2025-02-01T11:00:00.000Z' })),
  ])
  const statements: string[] = []
  const db = node.node.services.get('analytics')!.context.db
  const recorded = await db.transaction((tx) =>
    recordAll(
      {
        ...tx,
        query: (text, params) => {
          statements.push(text.trim().split(/\s+/).slice(0, 3).join(' '))
          return tx.query(text, params)
        },
      },
      events,
    ),
  )
  assert.equal(recorded, 12)
  // The events, then sales, product sales and the funnel: 4 statements, not one per event and table (31).
  assert.deepEqual(statements, [
    'insert into events',
    'insert into sales_daily',
    'insert into product_sales_daily',
    'insert into funnel_daily',
  ])
  const [sales] = await analyticsDb(node).query<Record<string, string>>(
    'select orders_placed::text, orders_confirmed::text, revenue_minor::text from sales_daily where tenant_id = $1',
    [tenantId],
  )
  assert.deepEqual(sales, { orders_placed: '6', orders_confirmed: '6', revenue_minor: '1500' })
  const funnel = await analyticsDb(node).query<Record<string, string>>(
    'select stage, actor, events::text from funnel_daily where tenant_id = $1 order by stage, actor',
    [tenantId],
  )
  assert.deepEqual(
    funnel.map((r) => `${r.stage} ${r.actor} ${r.events}`),
    ['order_confirmed user:u0 3', 'order_confirmed user:u1 3', 'order_placed user:u0 3', 'order_placed user:u1 3'],
  )
})
