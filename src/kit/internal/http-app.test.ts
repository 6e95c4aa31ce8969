import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { createRequire } from 'node:module'
import Type from 'typebox'
import { createHttpApp, type Readiness } from './http-app.ts'

test('while draining: new requests get a retryable 503 problem, readiness fails, liveness holds', async () => {
  const readiness: Readiness = { state: 'starting', checks: { database: async () => {} } }
  const app = createHttpApp({ name: 'probe', log: pino({ level: 'silent' }), readiness })
  app.get('/api/thing', async () => ({ ok: true }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    assert.equal((await fetch(`${url}/health/ready`)).status, 503, 'not ready while starting')
    readiness.state = 'ready'
    assert.equal((await fetch(`${url}/health/ready`)).status, 200)
    assert.equal((await fetch(`${url}/api/thing`)).status, 200)

    readiness.state = 'draining'
    const turned = await fetch(`${url}/api/thing`)
    assert.equal(turned.status, 503)
    assert.equal(turned.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    assert.equal(turned.headers.get('connection'), 'close')
    const problem = (await turned.json()) as { code: string; retryable: boolean }
    assert.deepEqual([problem.code, problem.retryable], ['unavailable', true])
    const ready = await fetch(`${url}/health/ready`)
    assert.equal(ready.status, 503)
    assert.equal(ready.headers.get('content-type'), 'application/health+json; charset=utf-8')
    assert.equal(((await ready.json()) as { status: string; output: string }).output, 'draining')
    assert.equal((await fetch(`${url}/health/live`)).status, 200)
  } finally {
    await app.close()
  }
})

test('a failing check makes the process unready and says which check failed', async () => {
  const readiness: Readiness = {
    state: 'ready',
    checks: {
      database: async () => {
        throw new Error('connection refused')
      },
      events: async () => {},
    },
  }
  const app = createHttpApp({ name: 'probe', log: pino({ level: 'silent' }), readiness })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const res = await fetch(`${url}/health/ready`)
    assert.equal(res.status, 503)
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string; output?: string }[]> }
    assert.equal(body.status, 'fail')
    assert.deepEqual(body.checks.database, [{ status: 'fail', output: 'connection refused' }])
    assert.deepEqual(body.checks.events, [{ status: 'pass' }])
  } finally {
    await app.close()
  }
})

test("TypeBox validates routes without Fastify's own compilers; a response schema is refused, not ignored", async () => {
  const readiness: Readiness = { state: 'ready', checks: {} }
  const app = createHttpApp({ name: 'probe', log: pino({ level: 'silent' }), readiness })
  app.get<{ Params: { n: number } }>(
    '/api/things/:n',
    { schema: { params: Type.Object({ n: Type.Integer({ minimum: 1 }) }) } },
    async (request) => ({ n: request.params.n, type: typeof request.params.n }),
  )
  app.get('/api/shaped', { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } } }, async () => ({}))
  await assert.rejects(async () => {
    await app.ready()
  }, /declare no response schema/)
  await app.close()

  const valid = createHttpApp({ name: 'probe', log: pino({ level: 'silent' }), readiness })
  valid.get<{ Params: { n: number } }>(
    '/api/things/:n',
    { schema: { params: Type.Object({ n: Type.Integer({ minimum: 1 }) }) } },
    async (request) => ({ n: request.params.n, type: typeof request.params.n }),
  )
  const url = await valid.listen({ port: 0, host: '127.0.0.1' })
  try {
    const ok = await fetch(`${url}/api/things/7`)
    assert.deepEqual(await ok.json(), { n: 7, type: 'number' }, 'a URL part converted to its declared type')
    const bad = await fetch(`${url}/api/things/0`)
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { code: string }).code, 'invalid_parameters')
  } finally {
    await valid.close()
  }
  const loaded = Object.keys(createRequire(import.meta.url).cache)
  assert.ok(!loaded.some((file) => file.includes('/node_modules/ajv/')), 'Ajv is never loaded')
})
