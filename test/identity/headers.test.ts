// What the edge adds to (and keeps out of) every response, and the size limits on requests.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { startIdentityNode, call, assertProblem, uniqueEmail, PASSWORD, type TestNode, type Reply } from './helpers.ts'

const BODY_LIMIT = 4096
const HEADER_LIMIT = 16_384 // the default

let plain: TestNode
let proxied: TestNode

before(async () => {
  ;[plain, proxied] = await Promise.all([
    startIdentityNode({ BODY_LIMIT: String(BODY_LIMIT) }),
    // Behind a TLS-terminating proxy: X-Forwarded-Proto is believed.
    startIdentityNode({ TRUST_PROXY: 'true', BODY_LIMIT: String(BODY_LIMIT) }),
  ])
})
after(() => Promise.all([plain?.stop(), proxied?.stop()]))

/** A spread of answers: API success, refusals, errors, health, docs, keys. */
async function sample(node: TestNode, headers: Record<string, string> = {}): Promise<Record<string, Reply>> {
  return {
    'GET /api/products 200': await call(node, 'GET', '/api/products', { headers }),
    'GET /api/users/me 401': await call(node, 'GET', '/api/users/me', { headers }),
    'GET /api/users 401 (bad token)': await call(node, 'GET', '/api/users', {
      headers: { ...headers, authorization: 'Bearer nope' },
    }),
    'POST /api/users 400': await call(node, 'POST', '/api/users', {
      body: '{',
      headers: { ...headers, 'content-type': 'application/json' },
    }),
    'POST /api/users 422': await call(node, 'POST', '/api/users', { json: { email: 'x' }, headers }),
    'POST /api/users 413': await call(node, 'POST', '/api/users', {
      json: { email: uniqueEmail(), password: PASSWORD, name: 'n'.repeat(BODY_LIMIT * 2) },
      headers,
    }),
    'GET /api/nothing 404': await call(node, 'GET', '/api/nothing/here', { headers }),
    'GET /nothing 404': await call(node, 'GET', '/nothing', { headers }),
    'DELETE /health/live 405': await call(node, 'DELETE', '/health/live', { headers }),
    'GET /health/live': await call(node, 'GET', '/health/live', { headers }),
    'GET /health/ready': await call(node, 'GET', '/health/ready', { headers }),
    'GET /docs': await call(node, 'GET', '/docs', { headers }),
    'GET /openapi.json': await call(node, 'GET', '/openapi.json', { headers }),
    'GET /.well-known/jwks.json': await call(node, 'GET', '/.well-known/jwks.json', { headers }),
    'GET /metrics 404': await call(node, 'GET', '/metrics', { headers }), // served on METRICS_PORT only
  }
}

test('every response has nosniff and a CSP with frame-ancestors none, and no Server or X-Powered-By', async () => {
  for (const [what, reply] of Object.entries(await sample(plain))) {
    assert.ok(reply.status < 500, `${what}: ${reply.status} ${reply.text.slice(0, 200)}`)
    assert.equal(reply.headers.get('x-content-type-options'), 'nosniff', what)
    assert.match(reply.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, what)
    assert.equal(reply.headers.get('server'), null, what)
    assert.equal(reply.headers.get('x-powered-by'), null, what)
  }
})

test('API responses, refusals included, are Cache-Control: no-store', async () => {
  const replies = await sample(plain)
  for (const [what, reply] of Object.entries(replies)) {
    if (!what.split(' ')[1]!.startsWith('/api/')) continue
    assert.equal(reply.headers.get('cache-control'), 'no-store', what)
  }
  const signedUp = await call(plain, 'POST', '/api/users', {
    json: { email: uniqueEmail(), password: PASSWORD, name: 'Cache' },
  })
  assert.equal(signedUp.status, 201)
  const login = await call(plain, 'POST', '/api/users/login', {
    json: { email: (signedUp.body as { email: string }).email, password: PASSWORD },
  })
  assert.equal(login.status, 200)
  assert.equal(login.headers.get('cache-control'), 'no-store', 'tokens are never cached')
})

test('no HSTS over plain http, and a client cannot fake HTTPS without a trusted proxy', async () => {
  for (const [what, reply] of Object.entries(await sample(plain)))
    assert.equal(reply.headers.get('strict-transport-security'), null, what)
  for (const [what, reply] of Object.entries(await sample(plain, { 'x-forwarded-proto': 'https' }))) {
    assert.equal(reply.headers.get('strict-transport-security'), null, `untrusted X-Forwarded-Proto: ${what}`)
  }
  for (const [what, reply] of Object.entries(await sample(proxied)))
    assert.equal(reply.headers.get('strict-transport-security'), null, `proxied over http: ${what}`)
})

test('behind a trusted proxy that terminated TLS (X-Forwarded-Proto: https), HSTS is sent', async () => {
  for (const [what, reply] of Object.entries(await sample(proxied, { 'x-forwarded-proto': 'https' }))) {
    assert.match(reply.headers.get('strict-transport-security') ?? '', /max-age=\d{8,}/, what)
  }
})

test('CORS stays closed without CORS_ORIGINS: no Access-Control-Allow-Origin for any origin', async () => {
  const preflight = await fetch(`${plain.url}/api/users/me`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://evil.example',
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'x-csrf-token',
    },
  })
  assert.equal(preflight.headers.get('access-control-allow-origin'), null)
  assert.equal(preflight.headers.get('access-control-allow-credentials'), null)
  const simple = await call(plain, 'GET', '/api/products', { headers: { origin: 'https://evil.example' } })
  assert.equal(simple.headers.get('access-control-allow-origin'), null)
})

/** A raw request on a connection of its own (the server closes the connection after a 431). */
function rawRequest(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers, maxHeaderSize: 65_536, agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

test(`a request head over HEADER_LIMIT (${HEADER_LIMIT} bytes) is 431; just under it is served`, async () => {
  const big = await rawRequest(`${plain.url}/api/products`, { 'x-padding': 'a'.repeat(HEADER_LIMIT + 1024) })
  assert.equal(big.status, 431)
  assert.equal(
    (JSON.parse(big.body) as { code: string }).code,
    'headers_too_large',
    'a problem document, like every other error',
  )
  const manyCookies = await rawRequest(`${plain.url}/api/users/me`, {
    cookie: Array.from({ length: 600 }, (_, i) => `c${i}=${'v'.repeat(30)}`).join('; '),
  })
  assert.equal(manyCookies.status, 431, 'cookies count towards the head')
  const fine = await rawRequest(`${plain.url}/api/products`, { 'x-padding': 'a'.repeat(HEADER_LIMIT - 2048) })
  assert.equal(fine.status, 200)
  // The server is still fine afterwards.
  assert.equal((await call(plain, 'GET', '/health/live')).status, 200)
})

test(`a body over BODY_LIMIT (${BODY_LIMIT} bytes) is a 413 problem, whether announced or streamed, and creates nothing`, async () => {
  const email = uniqueEmail('big')
  const json = JSON.stringify({ email, password: PASSWORD, name: 'n'.repeat(BODY_LIMIT) })
  assertProblem(
    await call(plain, 'POST', '/api/users', { body: json, headers: { 'content-type': 'application/json' } }),
    413,
    'payload_too_large',
  )

  const encoder = new TextEncoder()
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < json.length; i += 1024) controller.enqueue(encoder.encode(json.slice(i, i + 1024)))
      controller.close()
    },
  })
  const response = await fetch(`${plain.url}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: stream,
    duplex: 'half',
  } as RequestInit)
  const text = await response.text()
  assertProblem(
    { status: response.status, headers: response.headers, body: JSON.parse(text), text, ms: 0 },
    413,
    'payload_too_large',
  )

  // An authenticated route answers 401 before reading a large body from an anonymous caller.
  assertProblem(
    await call(plain, 'PATCH', '/api/users/me', { body: json, headers: { 'content-type': 'application/json' } }),
    401,
    'unauthenticated',
  )
  const login = await call(plain, 'POST', '/api/users/login', { json: { email, password: PASSWORD } })
  assertProblem(login, 401, 'invalid_credentials', 'no account was created')
})
