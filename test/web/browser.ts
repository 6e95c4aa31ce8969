// The browser harness of the web tests: one headless Chromium (Debian's package, driven by
// playwright-core) and one started system per test file, a page that records console errors,
// and a check of a page: axe-core (no serious or critical violation), no console error, and
// screenshots at 375 px and 1280 px kept under test-artifacts/web/.
import assert from 'node:assert/strict'
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { cli, spawnNode, type Child } from '../process.ts'
import { adminEnv } from '../auth.ts'
import { defer, type Cleanup } from '../infra.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'web')
const WIDTHS = [375, 1280] as const

/** Headless Chromium with a fresh profile; a missing browser fails the test, with how to install it. */
export async function launchBrowser(t: Cleanup): Promise<Browser> {
  await access(CHROMIUM).catch(() =>
    assert.fail(`${CHROMIUM} is missing: the web tests need Chromium. Install it: apt-get install -y chromium`),
  )
  // launch() gives the browser a fresh user-data-dir of its own (a temporary profile, removed on close).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  defer(t, () => browser.close())
  return browser
}

/** `mosaic start` on a fresh data dir (embedded: PGlite, the in-process bus) with the demo catalog. */
export async function startSystem(t: Cleanup, env: Record<string, string> = {}): Promise<Child> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-web-'))
  defer(t, () => rm(dataDir, { recursive: true, force: true }))
  const system = await spawnNode(
    [cli, 'start'],
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      AUTH_COOKIE_SECURE: 'false',
      AUTH_REGISTER_LIMIT: '1000000',
      EVENT_POLL_MS: '50',
      LOG_LEVEL: 'info', // the ready line, which carries the URL, is logged at info
      LOG_PRETTY: 'false',
      ...adminEnv,
      ...env,
    },
    90_000,
  )
  defer(t, () => system.kill('SIGTERM'))
  return system
}

export interface CheckedPage {
  readonly page: Page
  readonly context: BrowserContext
  /** Console errors and uncaught exceptions seen so far. */
  readonly errors: string[]
  readonly javaScript: boolean
}

/** A new browser context (its own cookies) and page, recording console errors. */
export async function openPage(browser: Browser, baseURL: string, javaScript = true): Promise<CheckedPage> {
  const context = await browser.newContext({
    baseURL,
    javaScriptEnabled: javaScript,
    viewport: { width: 1280, height: 800 },
  })
  context.setDefaultTimeout(15_000) // a step that waits longer has hung: fail with where it was
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`)
  })
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  return { page, context, errors, javaScript }
}

const axeSource = (): string => {
  const require = createRequire(import.meta.url)
  return (require('axe-core') as { source: string }).source
}

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: string[] }[]
}

/**
 * Checks the page as it is now: no serious or critical axe violation at either width, no console
 * error, and a full-page screenshot at 375 px and 1280 px named `name`.
 */
export async function checkPage({ page, errors, javaScript }: CheckedPage, name: string): Promise<void> {
  // axe runs in the page: with JavaScript off, evaluate would wait for ever.
  assert.ok(javaScript, `${name}: check pages in a context with JavaScript on`)
  await mkdir(ARTIFACTS, { recursive: true })
  // Evaluated through the DevTools protocol, not added as a <script>: the page's CSP allows no
  // inline script, and the test must not weaken it.
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(axeSource())
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 })
    const violations = (await page.evaluate(
      `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`,
    )) as AxeViolation[]
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    assert.deepEqual(
      serious.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
      [],
      `${name} at ${width} px: accessibility`,
    )
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage: true })
  }
  await page.setViewportSize({ width: 1280, height: 800 })
  assert.deepEqual(errors, [], `${name}: console errors`)
}
