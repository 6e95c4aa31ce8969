// U+0000 in any string that would reach the database is a 4xx with the field's path, the same on
// embedded PGlite and on a PostgreSQL server (which cannot store it in text or jsonb: it was a 500).
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { topology } from '../../src/runtime/topology.ts'
import { testEnv, login, bearer } from '../auth.ts'
import { freshPostgres } from '../orders/helpers.ts'

const NUL = '\u0000'

const engines: [string, () => Promise<{ env: NodeJS.ProcessEnv; cleanup: () => Promise<void> }>][] = [
  ['PGlite', async () => ({ env: {}, cleanup: async () => {} })],
  [
    'PostgreSQL',
    async () => {
      const db = await freshPostgres()
      return { env: { DATABASE_URL: db.url }, cleanup: db.drop }
    },
  ],
]

for (const [engine, prepare] of engines) {
  describe(`NUL characters on ${engine}`, () => {
    let node: MosaicNode
    let cleanup: () => Promise<void>
    let staff: { authorization: string }
    let customer: { authorization: string }

    before(async () => {
      const prepared = await prepare()
      cleanup = prepared.cleanup
      node = await startNode({
        role: 'gateway',
        services: topology.map((s) => s.definition),
        port: 0,
        env: testEnv(prepared.env),
      })
      staff = bearer((await login(node.url)).accessToken)
      const email = `nul-${randomBytes(4).toString('hex')}@example.test`
      const registered = await send('POST', '/api/users', {
        email,
        password: 'a long enough passphrase',
        name: 'Nul Tester',
      })
      assert.ok(registered.status < 300, JSON.stringify(registered.body))
      customer = bearer((await login(node.url, email, 'a long enough passphrase')).accessToken)
    })
    after(async () => {
      await node?.stop()
      await cleanup?.()
    })

    async function send(
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; body: { code?: string; errors?: { path: string; code: string }[] } }> {
      const response = await fetch(node.url + path, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { status: response.status, body: (await response.json()) as never }
    }

    const cases: [
      name: string,
      method: string,
      path: string,
      body: unknown,
      auth: 'staff' | 'customer' | 'none',
      field: string,
      code: string,
    ][] = [
      [
        'search q',
        'GET',
        `/api/products/search?q=a${encodeURIComponent(NUL)}b`,
        undefined,
        'none',
        '/q',
        'invalid_parameters',
      ],
      [
        'list category',
        'GET',
        `/api/products?category=x${encodeURIComponent(NUL)}`,
        undefined,
        'none',
        '/category',
        'invalid_parameters',
      ],
      [
        'registration name',
        'POST',
        '/api/users',
        { email: 'nul-name@example.test', password: 'a long enough passphrase', name: `A${NUL}B` },
        'none',
        '/name',
        'validation_failed',
      ],
      ['profile name', 'PATCH', '/api/users/me', { name: `Me${NUL}` }, 'customer', '/name', 'validation_failed'],
      ['product name', 'POST', '/api/products', { name: `Mug${NUL}`, price: 1 }, 'staff', '/name', 'validation_failed'],
      [
        'product description',
        'PATCH',
        '/api/products/none',
        { description: `x${NUL}y` },
        'staff',
        '/description',
        'validation_failed',
      ],
      [
        'analytics property value',
        'POST',
        '/api/analytics/events',
        { name: 'product_viewed', properties: { ref: { deep: [`a${NUL}`] } } },
        'customer',
        '/properties/ref/deep/0',
        'validation_failed',
      ],
      [
        'analytics property name',
        'POST',
        '/api/analytics/events',
        { name: 'product_viewed', properties: { [`k${NUL}`]: 1 } },
        'customer',
        `/properties/k${NUL}`,
        'validation_failed',
      ],
    ]
    for (const [name, method, path, body, auth, field, code] of cases) {
      test(name, async () => {
        const headers = auth === 'staff' ? staff : auth === 'customer' ? customer : {}
        const reply = await send(method, path, body, headers)
        assert.ok(reply.status === 400 || reply.status === 422, `${reply.status} ${JSON.stringify(reply.body)}`)
        assert.equal(reply.body.code, code)
        assert.deepEqual(
          reply.body.errors?.map((e) => [e.path, e.code]),
          [[field, 'nul_character']],
        )
      })
    }

    test('the same strings without the NUL are stored', async () => {
      const created = await send('POST', '/api/products', { name: 'Mug AB', price: 1, category: 'xy' }, staff)
      assert.equal(created.status, 201, JSON.stringify(created.body))
      assert.equal((await send('GET', '/api/products/search?q=mug')).status, 200)
    })
  })
}
