// The public edge as a browser or a careless client meets it: the API's CSP is exactly the one
// documented, CORS preflights allow every method the API uses, a wrong method on a known path is
// a 405 with Allow, a 415 names the type wanted, `GET /` is the shop (JSON clients get links), and a client that
// hangs up mid-body is a rate-limited warning rather than an error with a stack trace.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { once } from 'node:events'
import { cli, spawnNode, logLines, type Child } from '../process.ts'

const ORIGIN = 'http://app.example.test'
let node: Child

before(async () => {
  node = await spawnNode(
    [cli, 'start'],
    {
      PORT: '0',
      DATA_DIR: ':memory:',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      CATALOG_SEED_DEMO: 'false',
      CORS_ORIGINS: ORIGIN,
    },
    60_000,
  )
})
after(() => node?.kill('SIGTERM'))

const url = (path: string): string => new URL(path, node.url).href

test("the API's Content-Security-Policy is exactly default-src 'none'; frame-ancestors 'none'", async () => {
  for (const path of ['/api/products', '/api/nowhere', '/openapi.json']) {
    const reply = await fetch(url(path))
    assert.equal(reply.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'", path)
  }
  const docs = await fetch(url('/docs'))
  assert.match(
    docs.headers.get('content-security-policy')!,
    /^default-src 'self'; /,
    'the API reference page has its own',
  )
})

test('GET / is the shop with its own strict CSP (no inline script), and JSON for a client asking for JSON', async () => {
  const page = await fetch(url('/'))
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type')!, /^text\/html/)
  const body = await page.text()
  for (const href of ['/docs', '/openapi.json', '/health/ready']) assert.ok(body.includes(`href="${href}"`), href)
  const csp = page.headers.get('content-security-policy')!
  assert.match(csp, /(^|; )script-src 'self';/)
  assert.match(csp, /(^|; )style-src 'self';/)
  assert.match(csp, /frame-ancestors 'none'/)
  assert.doesNotMatch(body, /<script(?![^>]*\ssrc=)/, 'no inline script')
  assert.doesNotMatch(body, /\sstyle=/, 'no inline style attribute')
  assert.equal(page.headers.get('vary'), 'accept')

  const json = await fetch(url('/'), { headers: { accept: 'application/json' } })
  assert.match(json.headers.get('content-type')!, /^application\/json/)
  const { links } = (await json.json()) as { links: { href: string }[] }
  assert.deepEqual(links.map((l) => l.href).slice(0, 3), ['/docs', '/openapi.json', '/health/ready'])
})

test('CORS preflights from a trusted origin allow PATCH and DELETE', async () => {
  for (const method of ['PATCH', 'DELETE', 'PUT', 'POST']) {
    const preflight = await fetch(url('/api/products/some-id'), {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': method },
    })
    assert.ok(preflight.status < 300, `${method}: ${preflight.status}`)
    assert.ok(
      (preflight.headers.get('access-control-allow-methods') ?? '').split(/,\s*/).includes(method),
      `${method}: ${preflight.headers.get('access-control-allow-methods')}`,
    )
  }
})

test('a wrong method on a known path is 405 with Allow; an unknown path stays 404', async () => {
  const cases: [method: string, path: string, allow: string][] = [
    ['PUT', '/api/users/me', 'GET, HEAD, PATCH'],
    ['DELETE', '/api/users/login', 'GET, HEAD, POST'], // GET: /api/users/:id, where "login" is a (malformed) id
    ['PUT', '/api/products', 'GET, HEAD, POST'],
    ['POST', '/api/products/some-id', 'GET, HEAD, PATCH, DELETE'],
    ['POST', '/health/live', 'GET, HEAD'],
    ['DELETE', '/', 'GET, HEAD'],
  ]
  for (const [method, path, allow] of cases) {
    const reply = await fetch(url(path), { method })
    assert.equal(reply.status, 405, `${method} ${path}`)
    assert.equal(reply.headers.get('allow'), allow, `${method} ${path}`)
    const problem = (await reply.json()) as { code: string; detail: string }
    assert.equal(problem.code, 'method_not_allowed')
    assert.match(problem.detail, new RegExp(`not ${method}$`))
  }
  const unknown = await fetch(url('/api/nowhere'), { method: 'DELETE' })
  assert.equal(unknown.status, 404)
  assert.equal(unknown.headers.get('allow'), null)
})

test('a 415 names the type the route takes, in the detail and in Accept-Post / Accept-Patch', async () => {
  const form = await fetch(url('/api/users'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'email=a',
  })
  assert.equal(form.status, 415)
  assert.equal(form.headers.get('accept-post'), 'application/json')
  assert.match(
    ((await form.json()) as { detail: string }).detail,
    /^send the body as application\/json, not application\/x-www-form-urlencoded$/,
  )
  // The upload route streams multipart bodies: that is what it names.
  const account = { email: `edge-${Date.now()}@example.test`, password: 'a long enough passphrase', name: 'Edge' }
  await fetch(url('/api/users'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(account),
  })
  const login = await fetch(url('/api/users/login'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: account.email, password: account.password }),
  })
  assert.equal(login.status, 200)
  const { accessToken } = (await login.json()) as { accessToken: string }
  const upload = await fetch(url('/api/files'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: '{}',
  })
  assert.equal(upload.status, 415)
  assert.equal(upload.headers.get('accept-post'), 'multipart/form-data')
  assert.match(
    ((await upload.json()) as { detail: string }).detail,
    /^send the body as multipart\/form-data, not application\/json$/,
  )
})

test('clients hanging up mid-body are one warning per interval, not an error with a stack trace each', async () => {
  const before = logLines(node.output()).length
  const { port, hostname } = new URL(node.url)
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const socket = connect(Number(port), hostname)
      await once(socket, 'connect')
      socket.write(
        'POST /api/users/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"em',
      )
      await new Promise((resolve) => setTimeout(resolve, 100))
      socket.destroy()
      await once(socket, 'close')
    }),
  )
  const warned = await node.waitFor(/"msg":"clients closed their connections before their requests were complete"/)
  assert.ok(warned)
  await fetch(url('/health/live')) // one more round trip: any late line about the aborts is written by now
  const lines = logLines(node.output()).slice(before)
  assert.deepEqual(
    lines.filter((l) => Number(l.level) >= 50),
    [],
    'no error lines',
  )
  const warnings = lines.filter((l) => String(l.msg).startsWith('clients closed'))
  assert.equal(warnings.length, 1, 'one warning for the burst')
})
