// The shop and the account in a real browser against a started system (`mosaic start`, embedded):
// a customer's journey from registering to a refund, a declined card and why, the same core
// flow with JavaScript off, forms showing the API's errors beside their fields, CSRF refused,
// and every page checked (axe, console errors, screenshots at 375 and 1280 px).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Page } from 'playwright-core'
import { totpCode } from '../../src/services/identity/totp.ts'
import { launchBrowser, startSystem, openPage, checkPage, type CheckedPage } from './browser.ts'
import type { Child } from '../process.ts'

const PASSWORD = 'a long enough passphrase'
let system: Child
let browser: Browser
const cleanups: (() => Promise<void>)[] = []
const scope = { after: (fn: () => Promise<void>) => void cleanups.push(fn) }

before(async () => {
  ;[system, browser] = await Promise.all([startSystem(scope), launchBrowser(scope)])
})
after(async () => {
  for (const fn of cleanups.reverse()) await fn()
})

let accounts = 0
const newEmail = (): string => `shopper-${process.pid}-${++accounts}@example.test`

async function register(page: Page, email: string, name = 'Ann Shopper'): Promise<void> {
  await page.goto('/register')
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.waitForURL(/\/account\?notice=registered$/)
}

async function addToCart(page: Page, search: string, product: string, quantity = 1): Promise<void> {
  await page.goto('/')
  await page.getByLabel('Search').fill(search)
  await page.getByRole('button', { name: 'Show' }).click()
  await page.getByRole('link', { name: product }).click()
  await page.getByLabel('Quantity').fill(String(quantity))
  await page.getByRole('button', { name: 'Add to cart' }).click()
  await page.waitForURL(/\/cart\?notice=cart-added$/)
}

async function checkout(page: Page, method: string): Promise<void> {
  await page.goto('/checkout')
  await page.getByLabel(method).check()
  await page.getByRole('button', { name: 'Place order' }).click()
  await page.waitForURL(/\/account\/orders\/[^/?]+$/)
}

/** The status the order page shows once it is final (htmx polls it while PENDING). */
async function finalStatus(page: Page): Promise<string> {
  const status = page.locator('#order-status [data-status]')
  await page.waitForFunction(
    `document.querySelector('#order-status [data-status]')?.getAttribute('data-status') !== 'PENDING'`,
    undefined,
    { timeout: 20_000 },
  )
  return (await status.getAttribute('data-status'))!
}

test("a customer's journey: register, search, cart, checkout, confirmed live, invoice, cancel, refund", {
  timeout: 120_000,
}, async () => {
  const shopper = await openPage(browser, system.url)
  const { page } = shopper
  await page.goto('/')
  await checkPage(shopper, 'catalog')
  await page.goto('/sign-in')
  await checkPage(shopper, 'sign-in')
  await register(page, newEmail())
  assert.match(await page.locator('.notice').first().innerText(), /account is ready/)
  await checkPage(shopper, 'account')

  await page.goto('/')
  await page.getByLabel('Search').fill('keyboard')
  await page.getByRole('button', { name: 'Show' }).click()
  const names = await page.locator('.product h2').allInnerTexts()
  assert.equal(names[0], 'Mechanical Keyboard', `search results: ${names.join(', ')}`)
  await checkPage(shopper, 'search')
  await page.getByRole('link', { name: 'Mechanical Keyboard' }).click()
  await checkPage(shopper, 'product')
  await page.getByLabel('Quantity').fill('2')
  await page.getByRole('button', { name: 'Add to cart' }).click()
  await page.waitForURL(/\/cart/)
  assert.match(await page.locator('tfoot').innerText(), /\$178\.00/)
  assert.match(await page.locator('header .badge').innerText(), /^2/)
  await checkPage(shopper, 'cart')

  await page.goto('/checkout')
  await checkPage(shopper, 'checkout')
  await page.getByLabel('Visa ending 4242').check()
  await page.getByRole('button', { name: 'Place order' }).click()
  await page.waitForURL(/\/account\/orders\/[^/?]+$/)
  const orderUrl = page.url()
  assert.equal(await finalStatus(page), 'CONFIRMED', 'the page followed the order to its final state by itself')
  assert.equal(await page.locator('header .badge').count(), 0, 'the cart is empty after checkout')
  await page.getByRole('link', { name: /^Invoice INV-/ }).waitFor()
  await checkPage(shopper, 'order-confirmed')

  await page.getByRole('link', { name: /^Invoice INV-/ }).click()
  assert.match(await page.locator('h1').innerText(), /^Invoice INV-/)
  assert.match(await page.locator('tbody').innerText(), /Mechanical Keyboard/)
  assert.match(await page.locator('tfoot').innerText(), /\$178\.00/)
  await checkPage(shopper, 'invoice')

  await page.goto(orderUrl)
  await page.getByRole('button', { name: 'Cancel and refund' }).click()
  await page.waitForURL(/notice=order-cancel-requested/)
  await page.locator('#order-status .refund').waitFor({ timeout: 20_000 })
  assert.equal(await page.locator('#order-status [data-status]').getAttribute('data-status'), 'CANCELLED')
  assert.match(await page.locator('#order-status .reason').innerText(), /You cancelled the order/)
  assert.match(await page.locator('#order-status .refund').innerText(), /refunded: \$178\.00/)
  await checkPage(shopper, 'order-refunded')

  for (const [path, name, expected] of [
    ['/account/orders', 'orders', /CANCELLED · refunded/],
    ['/account/invoices', 'invoices', /INV-/],
    ['/account/payments', 'payments', /refunded[\s\S]*\$178\.00/],
  ] as const) {
    await page.goto(path)
    assert.match(await page.locator('main').innerText(), expected, path)
    await checkPage(shopper, name)
  }
  await shopper.context.close()
})

test('a declined card: the order is cancelled and the page says why', { timeout: 120_000 }, async () => {
  const shopper = await openPage(browser, system.url)
  const { page } = shopper
  await register(page, newEmail())
  await addToCart(page, 'mouse', 'Wireless Mouse')
  await checkout(page, 'Card that is declined')
  assert.equal(await finalStatus(page), 'CANCELLED')
  const reason = await page.locator('#order-status .reason').innerText()
  assert.match(reason, /The payment was declined\. The bank says the card was declined\./)
  assert.equal(await page.locator('#order-status .refund').count(), 0, 'nothing was taken, so nothing is refunded')
  await checkPage(shopper, 'order-declined')
  await shopper.context.close()
})

test('with JavaScript off: a visitor fills a cart, signs up at checkout, pays, and refreshes to the result', {
  timeout: 120_000,
}, async () => {
  const visitor = await openPage(browser, system.url, false)
  const { page } = visitor
  await addToCart(page, 'lamp', 'Desk Lamp', 3)
  await page.getByRole('link', { name: 'Check out' }).click()
  await page.waitForURL(/\/sign-in\?next=%2Fcheckout$/)
  const email = newEmail()
  await register(page, email)
  // The visitor's cart became the account's at sign-in.
  await page.goto('/cart')
  assert.match(await page.locator('tfoot').innerText(), /\$135\.00/)
  await checkout(page, 'Visa ending 4242')
  let status = await page.locator('#order-status [data-status]').getAttribute('data-status')
  for (let i = 0; status === 'PENDING' && i < 40; i++) {
    await page.waitForTimeout(250)
    await page.getByRole('link', { name: 'Refresh' }).click()
    await page.waitForLoadState()
    status = await page.locator('#order-status [data-status]').getAttribute('data-status')
  }
  assert.equal(status, 'CONFIRMED')

  // Signing out and in again, the same flow without scripts.
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/notice=signed-out/)
  assert.equal(await page.getByRole('link', { name: 'Sign in' }).count(), 1)
  await page.goto('/sign-in')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill('not the password at all')
  await page.getByRole('button', { name: 'Sign in' }).click()
  assert.match(await page.locator('.notice-error').innerText(), /.+/)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(/\/account$/)
  await visitor.context.close()
})

test("forms show the API's validation errors beside their fields, and keep what was typed", {
  timeout: 120_000,
}, async () => {
  const visitor = await openPage(browser, system.url)
  const { page } = visitor
  await page.goto('/register')
  await page.getByLabel('Name').fill('Bo')
  await page.getByLabel('Email').fill('bo@example.test')
  await page.getByLabel('Password', { exact: true }).fill('short')
  await page.getByRole('button', { name: 'Create account' }).click()
  const password = page.getByLabel('Password', { exact: true })
  assert.equal(await password.getAttribute('aria-invalid'), 'true')
  const described = (await password.getAttribute('aria-describedby'))!.split(' ')
  const error = await page.locator(`#${described.at(-1)}`).innerText()
  assert.match(error, /at least 8 characters/)
  assert.equal(await page.getByLabel('Email').inputValue(), 'bo@example.test')
  assert.equal(await password.inputValue(), '', 'a password is never sent back')
  await checkPage(visitor, 'register-errors')
  await visitor.context.close()
})

test('notification preferences and two-step sign-in with a QR code', { timeout: 120_000 }, async () => {
  const shopper = await openPage(browser, system.url)
  const { page } = shopper
  const email = newEmail()
  await register(page, email)
  await page.goto('/account/notifications')
  await checkPage(shopper, 'notifications')
  await page.getByLabel('Receipts when an order is confirmed').uncheck()
  await page.getByRole('button', { name: 'Save preferences' }).click()
  await page.waitForURL(/notice=preferences-saved/)
  assert.equal(await page.getByLabel('Receipts when an order is confirmed').isChecked(), false)
  assert.equal(await page.getByLabel('Notices when an order is cancelled').isChecked(), true)

  await page.goto('/account/security')
  await checkPage(shopper, 'security')
  await page.getByLabel('Current password').fill('wrong password here')
  await page.getByRole('button', { name: 'Set up two-step sign-in' }).click()
  assert.equal(await page.getByLabel('Current password').getAttribute('aria-invalid'), 'true')
  await page.getByLabel('Current password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Set up two-step sign-in' }).click()
  const qr = page.getByRole('img', { name: /QR code/ })
  assert.match((await qr.getAttribute('src'))!, /^data:image\/png;base64,/)
  assert.ok(
    (await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)) >= 200,
    'the QR image decoded',
  )
  await checkPage(shopper, 'security-qr')
  const secret = await page.locator('code.secret').innerText()
  await page.getByLabel('One-time code').fill('000000')
  await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click()
  assert.equal(await page.getByLabel('One-time code').getAttribute('aria-invalid'), 'true')
  assert.equal(await page.getByRole('img', { name: /QR code/ }).count(), 1, 'the QR code is shown again')
  await page.getByLabel('One-time code').fill(totpCode(secret, Date.now()))
  await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click()
  assert.equal((await page.locator('ul.codes li').count()) > 0, true, 'recovery codes are shown once')
  await checkPage(shopper, 'security-recovery-codes')

  // Signing in now asks for a code.
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.goto('/sign-in')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByLabel('One-time code').waitFor()
  await checkPage(shopper, 'sign-in-code')
  await page.getByLabel('Password').fill(PASSWORD)
  // The next time step's code (within the accepted window): the current one was just used, and a
  // code is accepted once.
  await page.getByLabel('One-time code').fill(totpCode(secret, Date.now() + 30_000))
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(/\/account$/)
  assert.match(await page.locator('main').innerText(), /Two-step sign-in is on/)
  await shopper.context.close()
})

test('a form posted without its CSRF token, or from another site, is refused and changes nothing', {
  timeout: 120_000,
}, async () => {
  const home = await fetch(system.url)
  const cookie = home.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ')
  const token = /mosaic-csrf=([^;]+)/.exec(cookie)![1]!
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(new URL('/cart/add', system.url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
      body,
    })
  const missing = await post('productId=prod-mouse&quantity=1')
  assert.equal(missing.status, 403)
  assert.equal(
    missing.headers.getSetCookie().some((c) => c.startsWith('mosaic-cart=')),
    false,
  )
  const wrong = await post('productId=prod-mouse&quantity=1&_csrf=forged')
  assert.equal(wrong.status, 403)
  const crossSite = await post(`productId=prod-mouse&quantity=1&_csrf=${token}`, { 'sec-fetch-site': 'cross-site' })
  assert.equal(crossSite.status, 403)
  const good = await post(`productId=prod-mouse&quantity=1&_csrf=${token}`)
  assert.equal(good.status, 303)
  assert.ok(good.headers.getSetCookie().some((c) => c.startsWith('mosaic-cart=')))
})

test('a tampered cart cookie reads as an empty cart, not an error', { timeout: 120_000 }, async () => {
  for (const value of ['not-base64-json', Buffer.from('[{"productId":"../x","quantity":1e9}]').toString('base64url')]) {
    const reply = await fetch(new URL('/cart', system.url), { headers: { cookie: `mosaic-cart=${value}` } })
    assert.equal(reply.status, 200)
    assert.match(await reply.text(), /Your cart is empty/)
  }
})

export type { CheckedPage }
