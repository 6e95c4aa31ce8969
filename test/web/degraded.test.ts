// Graceful degradation in the browser: the catalog runs as its own process (`mosaic serve
// catalog`) behind the gateway (`mosaic start` with CATALOG_SERVICE_URL); once it is stopped, the
// shop's pages show a notice instead of breaking, and the account pages keep working.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cli, spawnNode, tempDataDir } from '../process.ts'
import { INTERNAL_SECRET } from '../auth.ts'
import { natsNamespace, defer } from '../infra.ts'
import { launchBrowser, startSystem, openPage, checkPage } from './browser.ts'

test('catalog down: browsing shows a notice, the account pages still work', { timeout: 180_000 }, async (t) => {
  const shared = { BUS: 'nats', NATS_NAMESPACE: natsNamespace(t), MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET }
  const [catalog, browser] = await Promise.all([
    tempDataDir(t).then((dataDir) =>
      spawnNode(
        [cli, 'serve', 'catalog'],
        { CATALOG_SERVICE_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...shared },
        60_000,
      ),
    ),
    launchBrowser(t),
  ])
  defer(t, () => catalog.kill())
  const system = await startSystem(t, { CATALOG_SERVICE_URL: catalog.url, ...shared })

  const shopper = await openPage(browser, system.url)
  const { page } = shopper
  await page.goto('/register')
  await page.getByLabel('Name').fill('Dee Graded')
  await page.getByLabel('Email').fill(`degraded-${process.pid}@example.test`)
  await page.getByLabel('Password', { exact: true }).fill('a long enough passphrase')
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.waitForURL(/\/account\?notice=registered$/)
  await page.goto('/products/prod-mouse')
  await page.getByRole('button', { name: 'Add to cart' }).click()
  await page.waitForURL(/\/cart/)
  assert.equal(await page.locator('.notice-warning').count(), 0, 'no notice while the catalog is up')

  await catalog.kill('SIGKILL')

  await page.goto('/')
  const notice = page.getByRole('alert')
  assert.match(await notice.innerText(), /The catalog is unavailable right now/)
  assert.equal(await page.locator('.product').count(), 0)
  assert.equal(await page.getByRole('search').count(), 1, 'the page around the notice is whole')
  await checkPage(shopper, 'catalog-down')

  await page.goto('/products/prod-mouse')
  assert.match(await page.locator('main').innerText(), /Catalog unavailable[\s\S]*unavailable right now/)
  await page.goto('/cart')
  assert.match(await page.getByRole('alert').innerText(), /The catalog is unavailable right now/)

  for (const [path, text] of [
    ['/account', /Signed in as Dee Graded/],
    ['/account/orders', /No orders yet/],
    ['/account/notifications', /Receipts when an order is confirmed/],
    ['/account/security', /Two-step sign-in is off/],
  ] as const) {
    await page.goto(path)
    assert.match(await page.locator('main').innerText(), text, path)
    assert.equal(await page.locator('.notice-warning').count(), 0, `${path}: no notice, it needs no catalog`)
  }
  await checkPage(shopper, 'account-catalog-down')
  await shopper.context.close()
})
