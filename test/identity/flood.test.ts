// A burst of sign-ins (argon2: tens of milliseconds of CPU each) must not starve the rest of the
// process: health checks and ordinary reads keep answering promptly while the burst is worked off.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startIdentityNode, call, register, cloneUsers, tryLogin, sleep, PASSWORD, type TestNode } from './helpers.ts'

const LOGINS = 50

let node: TestNode
let emails: string[]

before(async () => {
  node = await startIdentityNode()
  const template = await register(node)
  emails = [template.email, ...(await cloneUsers(node, template, 9, 'flood'))]
})
after(() => node?.stop())

test(`${LOGINS} concurrent sign-ins all succeed while /health/live (and a public read) keep answering quickly`, async (t) => {
  // Warm up: the first verification also compiles/loads what later ones reuse.
  assert.equal((await tryLogin(node, emails[0]!, PASSWORD)).status, 200)

  const health: { status: number; ms: number }[] = []
  const reads: { status: number; ms: number }[] = []
  let flooding = true
  const poll = (async () => {
    while (flooding) {
      const [live, read] = await Promise.all([
        call(node, 'GET', '/health/live'),
        call(node, 'GET', '/api/products?limit=1'),
      ])
      health.push({ status: live.status, ms: live.ms })
      reads.push({ status: read.status, ms: read.ms })
      await sleep(10)
    }
  })()

  const started = performance.now()
  const logins = await Promise.all(
    Array.from({ length: LOGINS }, (_, i) => tryLogin(node, emails[i % emails.length]!, PASSWORD)),
  )
  const floodMs = performance.now() - started
  flooding = false
  await poll

  const failed = logins.filter((r) => r.status !== 200)
  assert.deepEqual(
    failed.map((r) => `${r.status} ${r.text}`),
    [],
    'every sign-in succeeds',
  )
  assert.ok(logins.every((r) => typeof (r.body as { accessToken?: string }).accessToken === 'string'))

  assert.ok(health.length >= 3, `only ${health.length} health checks ran during a ${floodMs.toFixed(0)} ms flood`)
  assert.ok(
    health.every((h) => h.status === 200),
    `health answers: ${health.map((h) => h.status).join(',')}`,
  )
  assert.ok(
    reads.every((r) => r.status === 200),
    `read answers: ${reads.map((r) => r.status).join(',')}`,
  )
  const slowestHealth = Math.max(...health.map((h) => h.ms))
  const slowestRead = Math.max(...reads.map((r) => r.ms))
  const summary = `flood ${floodMs.toFixed(0)} ms, ${health.length} polls, slowest health ${slowestHealth.toFixed(1)} ms, slowest read ${slowestRead.toFixed(1)} ms`
  t.diagnostic(summary)
  assert.ok(slowestHealth < 0.25 * floodMs, `health waited on the hashes: ${summary}`)
  assert.ok(slowestHealth < 1000, summary)
  assert.ok(slowestRead < 0.25 * floodMs && slowestRead < 1000, `a public read waited on the hashes: ${summary}`)
})
