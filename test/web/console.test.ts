// The operator console in a browser, on an embedded system with a consumer that keeps failing
// (the tally fixture): an administrator sees the services, the bus with its dead letters, the
// sagas and traces, replays the dead letters with the button once the consumer is fixed (the
// system restarted on the same database without the fault), and each event then takes effect
// once; the trace waterfall of a checkout; a customer is refused. Every page: axe, no console
// error, screenshots at 375 and 1280 px.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { topology } from '../../src/runtime/topology.ts'
import { pulseSystem } from '../fixtures/pulse.ts'
import { fixtureRoutes } from '../fixtures/routes.ts'
import { ADMIN_EMAIL, ADMIN_PASSWORD, testEnv, login } from '../auth.ts'
import { call } from '../helpers/http.ts'
import { customer, PASSWORD } from '../helpers/users.ts'
import { eventually } from '../helpers/wait.ts'
import { defer, freshDatabase } from '../infra.ts'
import { launchBrowser, openPage, checkPage } from './browser.ts'
import { signIn } from './sign-in.ts'

const system = [...topology.map((s) => s.definition), ...pulseSystem]

async function start(t: Parameters<typeof defer>[0], env: Record<string, string>): Promise<MosaicNode> {
  const node = await startNode({
    role: 'gateway',
    services: system,
    port: 0,
    env: testEnv({ GATEWAY_ROUTES: fixtureRoutes, EVENT_MAX_ATTEMPTS: '2', EVENT_RETRY_BASE_MS: '20', ...env }),
  })
  defer(t, () => node.stop())
  return node
}

const deadCount = async (node: MosaicNode): Promise<number> =>
  Number((await node.engine.admin.query<{ n: bigint }>('select count(*) as n from tally.mosaic_dead_letters'))[0]!.n)

test('the console: services, bus, sagas, traces; dead letters replayed with its button once the consumer is fixed', {
  timeout: 120_000,
}, async (t) => {
  const database = await freshDatabase(t)
  const run = `r${randomUUID().slice(0, 8)}`
  const failing = await start(t, { DATABASE_URL: database, TALLY_FAIL_RUN: run })
  const emitted = await call(failing, 'POST', '/api/pulse', { json: { run, count: 2 } })
  assert.equal(emitted.status, 200, emitted.text)
  await eventually('two dead letters', async () => (await deadCount(failing)) === 2, 20_000)

  // Fixed: the same database, the fault gone (a new port; cookies do not depend on the port).
  await failing.stop()
  const node = await start(t, { DATABASE_URL: database })
  assert.equal(await deadCount(node), 2, 'the dead letters outlived the restart')

  // A checkout, for the sagas and the traces.
  const admin = (await login(node.url)).accessToken
  const product = await call(node, 'POST', '/api/products', {
    token: admin,
    json: { id: `p-${run}`, name: 'Console lamp', price: '20.00', currency: 'EUR', stock: 3 },
  })
  assert.equal(product.status, 201, product.text)
  const buyer = await customer(node)
  const placed = await call<{ id: string }>(node, 'POST', '/api/orders', {
    token: buyer.token,
    json: { productId: `p-${run}`, quantity: 1, paymentMethod: { token: 'tok_visa' } },
    headers: { 'idempotency-key': randomUUID(), prefer: 'wait=5' },
  })
  assert.equal(placed.status, 200, placed.text)

  const browser = await launchBrowser(t)
  const checked = await openPage(browser, node.url)
  const { page } = checked
  await signIn(checked, ADMIN_EMAIL, ADMIN_PASSWORD)
  await page.getByRole('link', { name: 'Console' }).click()
  await page.waitForURL('**/console')
  const services = page.locator('#services')
  for (const name of ['catalog', 'identity', 'orders', 'payments', 'tally'])
    await assert.doesNotReject(services.getByRole('rowheader', { name, exact: true }).waitFor(), name)
  assert.equal(await services.locator('.health-pass').count(), system.length)
  const bus = page.locator('#bus')
  await bus.getByText('tally: 2').waitFor()
  assert.equal(await bus.locator('tbody tr', { hasText: 'told to fail run' }).count(), 2)
  const saga = page.locator('#sagas tbody tr', { hasText: placed.body.id.slice(0, 8) })
  await saga.waitFor()
  for (const step of ['reserve', 'authorize', 'commit', 'capture', 'confirm'])
    assert.equal(await saga.locator('li', { hasText: step }).count(), 1, step)
  await checkPage(checked, 'console')

  // The sections poll: a new request shows in the requests table without a reload.
  assert.equal((await call(node, 'GET', '/api/products?limit=1')).status, 200)
  await page.locator('#routes').getByText('GET /api/products', { exact: true }).waitFor({ timeout: 10_000 })

  // Replay from the console: the letters leave, and the fixed consumer handles each event once.
  await bus.getByRole('button', { name: 'Replay all 2 dead letters of tally' }).click()
  await page.waitForURL('**/console?notice=replayed#bus')
  await page.getByText('The dead letters are sent back to their subscriptions.').waitFor()
  await eventually(
    'the replayed events handled',
    async () => {
      const tally = await call<{ total: number; events: number }>(node, 'GET', `/api/tally?run=${run}`)
      return tally.body.total === 2 && tally.body.events === 2
    },
    20_000,
  )
  assert.equal(await deadCount(node), 0)
  await page.locator('#bus').getByText('tally: 0').waitFor({ timeout: 10_000 })

  // The checkout's trace as a waterfall, from its saga's row: the gateway, orders and the saga's calls.
  await page
    .locator('#sagas')
    .getByRole('link', { name: placed.body.id.slice(0, 8) })
    .click()
  await page.waitForURL('**/console/traces/*')
  const rows = page.locator('table.waterfall tbody tr')
  for (const span of ['POST /api/orders', 'catalog/reserveStock', 'payments/capturePayment'])
    assert.ok((await rows.filter({ hasText: span }).count()) >= 1, span)
  assert.equal(await page.locator('svg.bar rect').count(), await rows.count())
  // The console's own polling is not traced: it would push out of the ring what is worth seeing.
  const listed = await call<{ traces: { name: string }[] }>(node, 'GET', '/api/ops/traces', { token: admin })
  assert.deepEqual(
    listed.body.traces.filter((t) => /\/api\/ops|\/console\/part/.test(t.name)).map((t) => t.name),
    [],
  )
  await checkPage(checked, 'console-trace')

  // A customer is refused, page and polled part alike.
  const other = await openPage(browser, node.url)
  await signIn(other, buyer.user.email, PASSWORD)
  assert.equal(await other.page.getByRole('link', { name: 'Console' }).count(), 0, 'no console link for a customer')
  const refused = await other.page.goto('/console')
  assert.equal(refused?.status(), 403)
  await other.page.getByRole('heading', { name: 'Administrators only' }).waitFor()
  const part = await other.page.request.get('/console/part/bus')
  assert.doesNotMatch(await part.text(), /hx-trigger/, 'a refused part stops polling')
  assert.doesNotMatch(await part.text(), /tally/)
  // Chromium logs every 4xx document as a console error: this one is the answer under test.
  other.errors.splice(0, other.errors.length, ...other.errors.filter((e) => !/status of 403 .*\/console\)/.test(e)))
  await checkPage(other, 'console-refused')
})
