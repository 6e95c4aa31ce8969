// The back office in a browser: a staff member creates a product (a wrong price refused beside its
// field first), uploads its image through the files service, sees it in the storefront with its
// thumbnail, and refunds a customer's confirmed order. A customer is refused. Every page: axe, no
// console error, screenshots at 375 and 1280 px.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import sharp from 'sharp'
import { startNode } from '../../src/runtime/node.ts'
import { topology } from '../../src/runtime/topology.ts'
import { ADMIN_EMAIL, ADMIN_PASSWORD, INTERNAL_SECRET, login, testEnv } from '../auth.ts'
import { closedPort } from '../process.ts'
import { call } from '../helpers/http.ts'
import { customer, PASSWORD } from '../helpers/users.ts'
import { eventually } from '../helpers/wait.ts'
import { defer, freshDatabase } from '../infra.ts'
import { launchBrowser, openPage, checkPage } from './browser.ts'
import { signIn } from './sign-in.ts'

test('staff: a product with an image, seen in the shop; an order refunded', { timeout: 120_000 }, async (t) => {
  const node = await startNode({
    role: 'gateway',
    services: topology.map((s) => s.definition),
    port: 0,
    env: testEnv(),
  })
  defer(t, () => node.stop())
  const browser = await launchBrowser(t)
  const staff = await openPage(browser, node.url)
  const { page } = staff
  await signIn(staff, ADMIN_EMAIL, ADMIN_PASSWORD)
  await page.getByRole('link', { name: 'Back office' }).click()
  await page.waitForURL('**/staff/products')
  await page.getByRole('link', { name: 'New product' }).click()

  // The API's schema checks the form: a wrong price is shown beside its field, what was typed kept.
  const id = `lamp-${randomUUID().slice(0, 6)}`
  await page.getByLabel('Product id (optional)').fill(id)
  await page.getByLabel('Name', { exact: true }).fill('Desk lamp')
  await page.getByLabel('Price').fill('twelve')
  await page.getByLabel('Category').fill('Lighting')
  await page.getByLabel('Stock').fill('5')
  await page.getByRole('button', { name: 'Create product' }).click()
  await page.locator('#f-price[aria-invalid="true"]').waitFor()
  assert.ok((await page.locator('#f-price-error').textContent())?.length, 'the price error beside the field')
  assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'Desk lamp')
  // Form errors come back on a 200 page (the web layer's convention: a non-2xx document is a console error).
  await checkPage(staff, 'back-office-product-invalid')

  await page.getByLabel('Price').fill('24.90')
  await page.getByRole('button', { name: 'Create product' }).click()
  await page.waitForURL(`**/staff/products/${id}?notice=product-saved`)
  await page.getByText('The product is saved.').waitFor()

  const png = await sharp({ create: { width: 96, height: 64, channels: 3, background: '#c0392b' } })
    .png()
    .toBuffer()
  await page.getByLabel('New image').setInputFiles({ name: 'lamp.png', mimeType: 'image/png', buffer: png })
  await page.getByRole('button', { name: 'Upload image' }).click()
  await page.waitForURL(`**/staff/products/${id}?notice=image-saved`)
  const product = await call<{ imageFileId: string | null; price: number; stock: number }>(
    node,
    'GET',
    `/api/products/${id}`,
  )
  assert.ok(product.body.imageFileId, 'the product points at the uploaded file')
  assert.equal(product.body.price, 24.9)
  assert.equal(product.body.stock, 5)
  await eventually(
    'the thumbnail made',
    async () => (await fetch(new URL(`/api/files/${product.body.imageFileId}/thumbnail`, node.url))).status === 200,
    20_000,
  )
  await page.reload()
  await checkPage(staff, 'back-office-product')

  // The storefront shows it, image and all, to anyone.
  const visitor = await openPage(browser, node.url)
  await visitor.page.goto(`/products/${id}`)
  await visitor.page.getByRole('heading', { name: 'Desk lamp' }).waitFor()
  const image = visitor.page.getByRole('img', { name: 'Desk lamp' })
  assert.equal(
    await image.evaluate((img) => {
      const loaded = img as unknown as { complete: boolean; naturalWidth: number }
      return loaded.complete && loaded.naturalWidth > 0
    }),
    true,
  )

  // A customer's confirmed order, refunded from the back office.
  const buyer = await customer(node)
  const placed = await call<{ id: string; status: string }>(node, 'POST', '/api/orders', {
    token: buyer.token,
    json: { productId: id, quantity: 2, paymentMethod: { token: 'tok_visa' } },
    headers: { 'idempotency-key': randomUUID(), prefer: 'wait=5' },
  })
  assert.equal(placed.body.status, 'CONFIRMED', placed.text)
  await page.getByRole('link', { name: 'Orders and refunds' }).click()
  await page.waitForURL('**/staff/orders')
  const row = page.locator('tbody tr', { hasText: placed.body.id.slice(0, 8) })
  await row.getByText('captured').waitFor()
  await checkPage(staff, 'back-office-orders')
  await row.getByRole('button', { name: `Refund order ${placed.body.id.slice(0, 8)}` }).click()
  await page.waitForURL('**/staff/orders?notice=refunded')
  await page.getByText('The payment is refunded.').waitFor()
  await page
    .locator('tbody tr', { hasText: placed.body.id.slice(0, 8) })
    .getByText('refunded €49.80')
    .waitFor()
  assert.equal(
    await page
      .locator('tbody tr', { hasText: placed.body.id.slice(0, 8) })
      .getByRole('button')
      .count(),
    0,
    'nothing left to refund',
  )

  // The reports: the order's revenue in the sales chart (analytics counts it from the events), the lamp on top.
  await page.getByRole('link', { name: 'Reports' }).click()
  await page.waitForURL('**/staff/reports')
  await eventually(
    'the sale in the reports',
    async () => {
      await page.reload()
      return (await page.locator('.hbars li', { hasText: 'Desk lamp' }).count()) === 1
    },
    20_000,
  )
  assert.match((await page.locator('svg.chart-columns').getAttribute('aria-label')) ?? '', /€49\.80/)
  assert.equal(await page.locator('.hbars li', { hasText: 'Desk lamp' }).locator('.hbar-value').textContent(), '2')
  // The visitor's look at the lamp's page is the funnel's first step.
  await eventually(
    'the product page view in the funnel',
    async () => {
      await page.reload()
      return (
        (await page.locator('.hbars li', { hasText: 'product viewed' }).locator('.hbar-value').textContent()) === '1'
      )
    },
    20_000,
  )
  await checkPage(staff, 'back-office-reports')

  // The development mailbox: the buyer's welcome mail.
  await page.getByRole('link', { name: 'Mailbox' }).click()
  await page.waitForURL('**/staff/mailbox')
  await page
    .getByText(buyer.user.email)
    .first()
    .waitFor({ timeout: 20_000 })
    .catch(async () => {
      await page.reload()
      await page.getByText(buyer.user.email).first().waitFor()
    })
  // In the site's layout, the mail's text as sent; its HTML part only as source, never rendered.
  const welcome = page
    .locator('article.mail', { hasText: buyer.user.email })
    .filter({ has: page.getByRole('heading', { name: /welcome/i }) })
  await welcome.waitFor()
  assert.match((await welcome.locator('details pre').textContent()) ?? '', /<(html|p|table)\b/i)
  await checkPage(staff, 'back-office-mailbox')

  // Users and roles (an admin): another customer made staff.
  const promoted = await customer(node)
  await page.goto('/admin/users')
  await page.getByLabel(`Role of ${promoted.user.email}`).selectOption('staff')
  await page.getByRole('button', { name: `Save the role of ${promoted.user.email}` }).click()
  await page.waitForURL('**/admin/users?notice=role-changed')
  await page.getByText('The role is changed.').waitFor()
  assert.equal(await page.getByLabel(`Role of ${promoted.user.email}`).inputValue(), 'staff')
  const me = await call<{ roles: string[] }>(node, 'GET', '/api/users/me', {
    token: (await login(node.url, promoted.user.email, PASSWORD)).accessToken,
  })
  assert.deepEqual(me.body.roles, ['staff'])
  await checkPage(staff, 'admin-users')

  // A customer gets no back office.
  const other = await openPage(browser, node.url)
  await signIn(other, buyer.user.email, PASSWORD)
  assert.equal(await other.page.getByRole('link', { name: 'Back office' }).count(), 0)
  const refused = await other.page.goto('/staff/orders')
  assert.equal(refused?.status(), 403)
  assert.equal((await other.page.goto('/admin/users'))?.status(), 403, 'nor users and roles')
  await other.page.getByRole('heading', { name: 'Administrators only' }).waitFor()
  // Chromium logs every 4xx document as a console error: these 403s are the answers under test.
  other.errors.splice(
    0,
    other.errors.length,
    ...other.errors.filter((e) => !/status of 403 .*\/(staff\/orders|admin\/users)\)/.test(e)),
  )
  await checkPage(other, 'back-office-refused')
})

test('analytics down: the reports say so, the rest of the back office works', { timeout: 90_000 }, async (t) => {
  const node = await startNode({
    role: 'gateway',
    services: topology.map((s) => s.definition),
    port: 0,
    env: testEnv({
      // Analytics "elsewhere", at an address nobody answers (its events wait in the shared database).
      ANALYTICS_SERVICE_URL: `http://127.0.0.1:${await closedPort()}`,
      DATABASE_URL: await freshDatabase(t),
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
    }),
  })
  defer(t, () => node.stop())
  const browser = await launchBrowser(t)
  const staff = await openPage(browser, node.url)
  await signIn(staff, ADMIN_EMAIL, ADMIN_PASSWORD)
  await staff.page.goto('/staff/reports')
  assert.equal(await staff.page.getByText('Analytics is unavailable right now').count(), 3, 'each chart says so')
  await checkPage(staff, 'back-office-reports-down')
  const products = await staff.page.goto('/staff/products')
  assert.equal(products?.status(), 200)
  await staff.page.getByRole('link', { name: 'New product' }).waitFor()
})
