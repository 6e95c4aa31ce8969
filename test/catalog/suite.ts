// The catalog integration suite: the whole system started as `mosaic start` would start it
// (gateway role, identity and catalog in-process), driven over real HTTP with fetch. Reads are
// public; writes are sent as the first admin (who includes staff), signed in once. The entry
// files run it once per database engine; the tests never look at which engine is underneath.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { MosaicError } from '../../src/kit/errors.ts'
import type { CloudEvent } from '../../src/kit/contract.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import type { RouteInput } from '../../src/kit/service.ts'
import type { Identity } from '../../src/kit/identity.ts'
import { adminEnv, login, bearer } from '../auth.ts'
import { spy } from '../helpers/bus.ts'
import { call as httpCall, type CallOptions, type Reply } from '../helpers/http.ts'
import { register } from '../helpers/users.ts'
import { eventually } from '../helpers/wait.ts'

/** Starts a node with these variables on top of the engine's own; `stop` also removes its data. */
export type StartCatalog = (env: NodeJS.ProcessEnv) => Promise<{ node: MosaicNode; stop: () => Promise<void> }>

export const BODY_LIMIT = 2048
export const ALLOWED_ORIGIN = 'http://allowed.test'

export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    CATALOG_SEED_DEMO: 'false',
    BODY_LIMIT: String(BODY_LIMIT),
    CORS_ORIGINS: ALLOWED_ORIGIN,
    EVENT_POLL_MS: '50',
    ...adminEnv,
    ...extra,
  }
}

/** Starts a gateway node with identity (which the gateway verifies callers with) and the catalog inside. */
export function startCatalogNode(env: NodeJS.ProcessEnv): Promise<MosaicNode> {
  return startNode({ role: 'gateway', services: [identity, catalog], env, port: 0 })
}

export interface Product {
  id: string
  name: string
  description: string
  price: number
  currency: string
  category: string | null
  stock: number
  createdAt: string
  updatedAt: string
}

interface Problem {
  type: string
  title: string
  status: number
  code: string
  traceId?: string
  detail?: string
  errors?: { path: string; code: string; message: string }[]
}

interface User {
  id: string
  email: string
  roles: string[]
}

/** Methods that change nothing: sent without a token unless a test says otherwise. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

interface Reservation {
  orderId: string
  status: 'reserved' | 'released' | 'committed'
  items: { productId: string; quantity: number }[]
}

/** A short unique tag: test data never collides, whatever ran before. */
const tag = (): string => randomUUID().replace(/-/g, '').slice(0, 12)
/** Letters only, so it survives full-text parsing and stemming as one word. */
const word = (): string =>
  'zq' +
  [...randomUUID().replace(/-/g, '').slice(0, 10)].map((c) => String.fromCharCode(97 + (parseInt(c, 16) % 26))).join('')

export function catalogSuite(label: string, start: StartCatalog): void {
  describe(`catalog through the gateway (${label})`, () => {
    let node: MosaicNode
    let stop: () => Promise<void>
    /** The first admin's access token: admin includes staff, who may change the catalog. */
    let staffToken: string
    const seen = new Map<string, CloudEvent>()

    before(async () => {
      ;({ node, stop } = await start(baseEnv()))
      staffToken = (await login(node.url)).accessToken
      // A subscriber of our own, as another service would be: proves events are delivered, not just written.
      await spy(
        node,
        { id: 'catalog-test/product.created', consumer: 'catalog', source: 'catalog', type: 'product.created' },
        (event) => seen.set(event.id, event),
      )
    })
    after(() => stop?.())

    /** `token`: whose bearer token to send; null sends none. By default writes go as staff and reads anonymously. */
    async function call<T = unknown>(
      method: string,
      path: string,
      options: Omit<CallOptions, 'token'> & { token?: string | null } = {},
    ): Promise<Reply<T>> {
      const { token = SAFE_METHODS.has(method) ? null : staffToken, ...rest } = options
      return httpCall<T>(node, method, path, { ...rest, ...(token !== null ? { token } : {}) })
    }

    async function create(fields: Record<string, unknown> = {}): Promise<Product> {
      const reply = await call<Product>('POST', '/api/products', {
        json: { name: `Product ${tag()}`, price: 10, stock: 0, ...fields },
      })
      assert.equal(reply.status, 201, reply.text)
      return reply.body
    }

    const get = (id: string): Promise<Reply<Product>> => call<Product>('GET', `/api/products/${encodeURIComponent(id)}`)

    async function stockOf(id: string): Promise<number> {
      const reply = await get(id)
      assert.equal(reply.status, 200, reply.text)
      return reply.body.stock
    }

    /** Every problem document has the same shape, whatever went wrong. */
    function assertProblem(reply: Reply, status: number, code: string): Problem {
      assert.equal(reply.status, status, reply.text)
      assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/)
      const problem = reply.body as Problem
      assert.equal(problem.status, status)
      assert.equal(problem.code, code)
      assert.equal(problem.type, `urn:mosaic:problem:${code}`)
      assert.equal(typeof problem.title, 'string')
      assert.match(problem.traceId ?? '', /^[0-9a-f]{32}$/)
      assert.notEqual(problem.traceId, '0'.repeat(32))
      return problem
    }

    function assertFailsAt(reply: Reply, path: string): void {
      const problem = assertProblem(reply, 422, 'validation_failed')
      assert.ok(
        problem.errors?.some((e) => e.path === path),
        `expected an error at ${path}, got ${JSON.stringify(problem.errors)}`,
      )
    }

    async function listAll(query: string, limit: number): Promise<Product[]> {
      const items: Product[] = []
      let cursor: string | null = null
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 100, 'pagination does not end')
        const reply: Reply<{ items: Product[]; nextCursor: string | null }> = await call(
          'GET',
          `/api/products?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        )
        assert.equal(reply.status, 200, reply.text)
        assert.ok(reply.body.items.length <= limit)
        items.push(...reply.body.items)
        cursor = reply.body.nextCursor
        if (cursor === null) return items
        assert.equal(reply.body.items.length, limit, 'only the last page may be short')
      }
    }

    const invoke = <T = Reservation>(action: string, input: unknown): Promise<T> =>
      node.services.get('catalog')!.invoke(action, input, Date.now() + 10_000) as Promise<T>

    function isMosaic(code: string, status?: number): (error: unknown) => boolean {
      return (error) => {
        assert.ok(error instanceof MosaicError, `expected a MosaicError, got ${String(error)}`)
        assert.equal(error.code, code)
        if (status !== undefined) assert.equal(error.status, status)
        return true
      }
    }

    describe('products: create, read, change, delete', () => {
      test('the body from the issue is accepted and read back exactly', async () => {
        const id = `prod-${tag()}`
        const body = `{"id":"${id}","name":"Widget","price":29.99,"stock":100}`
        const response = await fetch(`${node.url}/api/products`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...bearer(staffToken) },
          body,
        })
        assert.equal(response.status, 201)
        assert.equal(response.headers.get('location'), `/api/products/${id}`)
        const created = (await response.json()) as Product
        assert.equal(created.price, 29.99)

        const reply = await get(id)
        assert.equal(reply.status, 200)
        assert.match(reply.text, /"price":29\.99[,}]/, 'price is the JSON number 29.99, not 29.989999...')
        assert.deepEqual(
          {
            id: reply.body.id,
            name: reply.body.name,
            price: reply.body.price,
            stock: reply.body.stock,
            currency: reply.body.currency,
            description: reply.body.description,
            category: reply.body.category,
          },
          { id, name: 'Widget', price: 29.99, stock: 100, currency: 'USD', description: '', category: null },
        )
        assert.ok(!Number.isNaN(Date.parse(reply.body.createdAt)))
        assert.equal(reply.body.createdAt, created.createdAt)
      })

      test('the literal id prod-123 works', async () => {
        // The issue's exact body, once per database: the file's database is fresh, so the id is free.
        const reply = await call<Product>('POST', '/api/products', {
          body: '{"id":"prod-123","name":"Widget","price":29.99,"stock":100}',
          headers: { 'content-type': 'application/json' },
        })
        assert.equal(reply.status, 201, reply.text)
        assert.equal((await get('prod-123')).body.price, 29.99)
      })

      test('an id is generated when none is given, and Location points at it', async () => {
        const reply = await call<Product>('POST', '/api/products', { json: { name: 'No id', price: 1 } })
        assert.equal(reply.status, 201, reply.text)
        assert.match(reply.body.id, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
        assert.equal(reply.headers.get('location'), `/api/products/${reply.body.id}`)
        assert.equal(reply.body.stock, 0)
        assert.equal(reply.body.currency, 'USD')
        const fetched = await call<Product>('GET', reply.headers.get('location')!)
        assert.equal(fetched.status, 200)
        assert.deepEqual(fetched.body, reply.body)
        const other = await create()
        assert.notEqual(other.id, reply.body.id)
      })

      test('a price may be a decimal string, and other currencies keep their own minor units', async () => {
        const usd = await create({ price: '19.90' })
        assert.equal(usd.price, 19.9)
        assert.equal((await get(usd.id)).body.price, 19.9)
        const jpy = await create({ price: '1005', currency: 'JPY' })
        assert.equal((await get(jpy.id)).body.price, 1005)
        assert.equal((await get(jpy.id)).body.currency, 'JPY')
        const bhd = await create({ price: 1.234, currency: 'BHD' })
        assert.equal((await get(bhd.id)).body.price, 1.234)
        const exact = await create({ price: 0.3 })
        assert.equal((await get(exact.id)).body.price, 0.3)
      })

      test('PATCH changes only the fields given', async () => {
        const product = await create({
          name: 'Before',
          description: 'Old words',
          price: 5,
          category: 'patching',
          stock: 3,
        })
        const reply = await call<Product>('PATCH', `/api/products/${product.id}`, { json: { price: '7.25', stock: 9 } })
        assert.equal(reply.status, 200, reply.text)
        assert.equal(reply.body.price, 7.25)
        assert.equal(reply.body.stock, 9)
        assert.equal(reply.body.name, 'Before')
        assert.equal(reply.body.description, 'Old words')
        assert.equal(reply.body.category, 'patching')
        assert.equal(reply.body.createdAt, product.createdAt)
        assert.ok(Date.parse(reply.body.updatedAt) >= Date.parse(product.updatedAt))

        const cleared = await call<Product>('PATCH', `/api/products/${product.id}`, {
          json: { category: null, name: 'After' },
        })
        assert.equal(cleared.status, 200, cleared.text)
        assert.equal(cleared.body.category, null)
        assert.deepEqual(await get(product.id).then((r) => r.body), cleared.body)

        const moved = await call<Product>('PATCH', `/api/products/${product.id}`, {
          json: { currency: 'EUR', price: 8 },
        })
        assert.equal(moved.status, 200, moved.text)
        assert.equal(moved.body.currency, 'EUR')
        assert.equal(moved.body.price, 8)
      })

      test('PATCH of the currency without a price is refused, and changes nothing', async () => {
        const product = await create({ price: 12.5 })
        const reply = await call('PATCH', `/api/products/${product.id}`, { json: { currency: 'EUR' } })
        assertFailsAt(reply, '/price')
        const after = (await get(product.id)).body
        assert.equal(after.currency, 'USD')
        assert.equal(after.price, 12.5)
        // Naming the same currency again is not a change.
        const same = await call<Product>('PATCH', `/api/products/${product.id}`, { json: { currency: 'USD' } })
        assert.equal(same.status, 200, same.text)
      })

      test('PATCH: too many decimals for the new currency, an empty body, an unknown id', async () => {
        const product = await create({ price: 12.5 })
        assertFailsAt(
          await call('PATCH', `/api/products/${product.id}`, { json: { currency: 'JPY', price: 12.5 } }),
          '/price',
        )
        assert.equal((await get(product.id)).body.currency, 'USD')
        assertProblem(await call('PATCH', `/api/products/${product.id}`, { json: {} }), 422, 'validation_failed')
        assertFailsAt(await call('PATCH', `/api/products/${product.id}`, { json: { stock: -4 } }), '/stock')
        assertFailsAt(await call('PATCH', `/api/products/${product.id}`, { json: { id: 'renamed' } }), '/id')
        assert.equal((await get(product.id)).body.stock, 0)
        assertProblem(await call('PATCH', `/api/products/nope-${tag()}`, { json: { stock: 1 } }), 404, 'not_found')
      })

      test('DELETE answers 204 with no body, then the product is gone', async () => {
        const product = await create()
        const reply = await call('DELETE', `/api/products/${product.id}`)
        assert.equal(reply.status, 204)
        assert.equal(reply.text, '')
        assertProblem(await get(product.id), 404, 'not_found')
        assertProblem(await call('DELETE', `/api/products/${product.id}`), 404, 'not_found')
      })

      test('a duplicate id is a 409 and the first product is untouched', async () => {
        const product = await create({ name: 'Original', price: 3 })
        const reply = await call('POST', '/api/products', { json: { id: product.id, name: 'Impostor', price: 4 } })
        assertProblem(reply, 409, 'conflict')
        assert.deepEqual((await get(product.id)).body, product)
      })

      test('an unknown id is a 404 problem; an impossible id is a 400', async () => {
        const problem = assertProblem(await get(`missing-${tag()}`), 404, 'not_found')
        assert.match(problem.detail ?? '', /missing-/)
        const bad = assertProblem(await call('GET', '/api/products/has%20space'), 400, 'invalid_parameters')
        assert.ok(
          bad.errors?.some((e) => e.path === '/id'),
          JSON.stringify(bad.errors),
        )
      })
    })

    describe('who may change the catalog', () => {
      const PASSWORD = 'a long and uncommon passphrase 7'

      /** Registers a customer (POST /api/users) and signs them in. */
      async function customer(): Promise<{ user: User; token: string }> {
        const registered = await register(node, {
          email: `user-${tag()}@mosaic.test`,
          password: PASSWORD,
          name: 'Test user',
        })
        assert.deepEqual(registered.roles, ['customer'])
        return { user: registered, token: (await login(node.url, registered.email, PASSWORD)).accessToken }
      }

      /** Tries every kind of write as `token` (null: anonymous) and checks each was refused with `status`/`code` and changed nothing. */
      async function assertWritesRefused(token: string | null, status: number, code: string): Promise<void> {
        const existing = await create({ name: 'Guarded', price: 5, stock: 2 })
        const id = `refused-${tag()}`
        const attempts = [
          await call('POST', '/api/products', { json: { id, name: 'Intruder', price: 1 }, token }),
          await call('PATCH', `/api/products/${existing.id}`, { json: { price: 0.01 }, token }),
          await call('DELETE', `/api/products/${existing.id}`, { token }),
          await call('DELETE', `/api/product%73/${existing.id}`, { token }),
        ]
        // However the path is spelled, it is the same route: the route table applies at the gateway.
        for (const path of ['/%61pi/products', '/api/product%73', '/api/products/']) {
          attempts.push(await call('POST', path, { json: { id, name: 'Intruder', price: 1 }, token }))
        }
        for (const reply of attempts) {
          assertProblem(reply, status, code)
          // The challenge is the gateway's: the service's own refusal (below the gateway) sends none.
          if (status === 401)
            assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer\b/, 'a 401 says how to authenticate')
        }
        assertProblem(await get(id), 404, 'not_found')
        assert.deepEqual((await get(existing.id)).body, existing)
      }

      test('reads are public: listing, search and one product need no token', async () => {
        const w = word()
        const product = await create({ name: `Public ${w}` })
        const list = await call<{ items: Product[] }>('GET', '/api/products?limit=1', { token: null })
        assert.equal(list.status, 200, list.text)
        const found = await call<{ items: Product[] }>('GET', `/api/products/search?q=${w}`, { token: null })
        assert.equal(found.status, 200, found.text)
        assert.deepEqual(
          found.body.items.map((p) => p.id),
          [product.id],
        )
        const one = await call<Product>('GET', `/api/products/${product.id}`, { token: null })
        assert.equal(one.status, 200, one.text)
        assert.equal(one.headers.get('www-authenticate'), null)
      })

      test('writes without a token are 401 problems with a Bearer challenge, and change nothing', async () => {
        await assertWritesRefused(null, 401, 'unauthenticated')
      })

      test('a token that does not verify is a 401, whatever it claims', async () => {
        const [header, payload] = staffToken.split('.')
        await assertWritesRefused(`${header}.${payload}.${'A'.repeat(86)}`, 401, 'unauthenticated')
        await assertWritesRefused('not-a-jwt', 401, 'unauthenticated')
      })

      test('a signed-in customer may not write: 403', async () => {
        const { token } = await customer()
        assert.equal((await call('GET', '/api/users/me', { token })).status, 200, 'the token itself is good')
        await assertWritesRefused(token, 403, 'forbidden')
      })

      test('an admin makes a customer staff; signed in again, they may create, change and delete', async () => {
        const { user, token: customerToken } = await customer()
        const promoted = await call<User>('PATCH', `/api/users/${user.id}/roles`, {
          json: { roles: ['staff'] },
          token: staffToken,
        })
        assert.equal(promoted.status, 200, promoted.text)
        assert.deepEqual(promoted.body.roles, ['staff'])
        // The token issued before the change still carries the roles it was issued with.
        const stale = await call('POST', '/api/products', {
          json: { name: 'Too early', price: 1 },
          token: customerToken,
        })
        assert.ok([401, 403].includes(stale.status), stale.text)

        const token = (await login(node.url, user.email, PASSWORD)).accessToken
        const created = await call<Product>('POST', '/api/products', {
          json: { name: 'By staff', price: 2.5, stock: 1 },
          token,
        })
        assert.equal(created.status, 201, created.text)
        const changed = await call<Product>('PATCH', `/api/products/${created.body.id}`, { json: { stock: 4 }, token })
        assert.equal(changed.status, 200, changed.text)
        assert.equal(changed.body.stock, 4)
        assert.equal((await call('DELETE', `/api/products/${created.body.id}`, { token })).status, 204)
        assertProblem(await get(created.body.id), 404, 'not_found')
      })

      test('the catalog asks the policies itself, whoever reaches its handlers', async () => {
        // Below the gateway: the service's own check (policies/catalog.cedar), not the route table's.
        const instance = node.services.get('catalog')!
        const createAs = (who?: Identity): Promise<unknown> =>
          instance.handle(
            'createProduct',
            {
              params: {},
              query: {},
              headers: {},
              body: { id: `direct-${tag()}`, name: 'Direct', price: 1 },
            } as RouteInput<never>,
            Date.now() + 5000,
            { clientIp: '127.0.0.1', ...(who ? { identity: who } : {}), setHeader: () => {} },
          )
        await assert.rejects(createAs(), isMosaic('unauthenticated', 401))
        await assert.rejects(
          createAs({ userId: 'u1', tenantId: 'default', roles: ['customer'] }),
          isMosaic('forbidden', 403),
        )
        const made = (await createAs({ userId: 'u2', tenantId: 'default', roles: ['staff'] })) as Product
        assert.equal((await get(made.id)).status, 200)
      })
    })

    describe('listing', () => {
      const sortKeys: Record<string, (p: Product) => string | number> = {
        name: (p) => p.name,
        price: (p) => p.price,
        '-price': (p) => p.price,
        created: (p) => Date.parse(p.createdAt),
        '-created': (p) => Date.parse(p.createdAt),
      }

      test('cursor pagination walks every page with nothing repeated or missed, in every sort', async () => {
        const category = `cat-${tag()}`
        const names = [
          'Apricot',
          'Banana',
          'Cherry',
          'Damson',
          'Elderberry',
          'Fig',
          'Grape',
          'Honeydew',
          'Kiwi',
          'Lemon',
          'Mango',
        ]
        const made: Product[] = []
        // Repeated names and prices, so the tie-breaker (the id) decides between pages.
        for (const [i, name] of names.entries()) {
          made.push(
            await create({
              id: `${category}-${String(i).padStart(2, '0')}`,
              name,
              price: [3, 1.5, 3, 20, 0.99][i % 5],
              category,
            }),
          )
          made.push(
            await create({
              id: `${category}-${String(i + 50).padStart(2, '0')}`,
              name,
              price: [3, 1.5, 3, 20, 0.99][(i + 2) % 5],
              category,
            }),
          )
        }
        await create({ name: 'Elsewhere', category: `other-${tag()}` })
        const expected = made.map((p) => p.id).sort()

        for (const [sort, key] of Object.entries(sortKeys)) {
          for (const limit of [1, 3, 7, 100]) {
            const items = await listAll(`category=${category}&sort=${sort}`, limit)
            const ids = items.map((p) => p.id)
            assert.equal(new Set(ids).size, ids.length, `${sort}/${limit}: an item appeared twice`)
            assert.deepEqual([...ids].sort(), expected, `${sort}/${limit}: items missing or extra`)
            const desc = sort.startsWith('-')
            for (let i = 1; i < items.length; i++) {
              const [a, b] = [key(items[i - 1]!), key(items[i]!)]
              assert.ok(desc ? a >= b : a <= b, `${sort}/${limit}: ${a} then ${b}`)
              if (a === b && !sort.includes('created')) {
                // Equal keys are ordered by id, in the direction of the sort.
                assert.ok(
                  desc ? items[i - 1]!.id > items[i]!.id : items[i - 1]!.id < items[i]!.id,
                  `${sort}: ties by id`,
                )
              }
            }
          }
        }
      })

      test('the default sort is by name, limit 20', async () => {
        const category = `cat-${tag()}`
        for (let i = 0; i < 22; i++)
          await create({
            id: `${category}-${String(i).padStart(2, '0')}`,
            name: `Item ${String.fromCharCode(90 - i)}`,
            category,
          })
        const reply = await call<{ items: Product[]; nextCursor: string | null }>(
          'GET',
          `/api/products?category=${category}`,
        )
        assert.equal(reply.status, 200)
        assert.equal(reply.body.items.length, 20)
        assert.notEqual(reply.body.nextCursor, null)
        const names = reply.body.items.map((p) => p.name)
        assert.deepEqual(names, [...names].sort())
        assert.equal(names[0], 'Item E')
      })

      test('?category returns only that category', async () => {
        const [a, b] = [`cat-${tag()}`, `cat-${tag()}`]
        const inA = [await create({ category: a }), await create({ category: a })]
        await create({ category: b })
        await create()
        const items = await listAll(`category=${a}`, 100)
        assert.deepEqual(items.map((p) => p.id).sort(), inA.map((p) => p.id).sort())
        assert.deepEqual(await listAll(`category=nothing-${tag()}`, 10), [])
      })

      test('a cursor that is not one the list returned is a 400', async () => {
        for (const cursor of [
          'garbage!!',
          Buffer.from('{"a":1}').toString('base64url'),
          Buffer.from('["x"]').toString('base64url'),
          Buffer.from('[1,2,3]').toString('base64url'),
          Buffer.from('["not-a-number","id"]').toString('base64url'),
        ]) {
          const sort = cursor.endsWith(Buffer.from('["not-a-number","id"]').toString('base64url')) ? '&sort=price' : ''
          const problem = assertProblem(
            await call('GET', `/api/products?cursor=${encodeURIComponent(cursor)}${sort}`),
            400,
            'invalid_parameters',
          )
          assert.ok(
            problem.errors?.some((e) => e.path === '/cursor'),
            JSON.stringify(problem),
          )
        }
        // A cursor minted for one sort, replayed with another.
        const timeCursor = Buffer.from('["not-a-time","id"]').toString('base64url')
        assertProblem(await call('GET', `/api/products?sort=created&cursor=${timeCursor}`), 400, 'invalid_parameters')
      })

      test('limit must be 1..100; unknown sorts and parameters are refused', async () => {
        for (const limit of ['0', '101', 'abc', '-1', '']) {
          const problem = assertProblem(await call('GET', `/api/products?limit=${limit}`), 400, 'invalid_parameters')
          assert.ok(
            problem.errors?.some((e) => e.path === '/limit'),
            `${limit}: ${JSON.stringify(problem.errors)}`,
          )
        }
        for (const limit of ['1', '100']) assert.equal((await call('GET', `/api/products?limit=${limit}`)).status, 200)
        assertProblem(await call('GET', '/api/products?sort=stock'), 400, 'invalid_parameters')
        assertProblem(await call('GET', '/api/products?colour=red'), 400, 'invalid_parameters')
      })
    })

    describe('search', () => {
      test('finds by name and by description, best match first', async () => {
        const w = word()
        const inDescription = await create({
          id: `a-${tag()}`,
          name: 'Plain thing',
          description: `Goes well with a ${w} on a sunny day`,
        })
        const inName = await create({ id: `b-${tag()}`, name: `Deluxe ${w}`, description: 'Nothing to see here' })
        await create({ name: 'Unrelated', description: 'Nothing either' })
        const reply = await call<{ items: (Product & { rank: number })[]; nextCursor: string | null }>(
          'GET',
          `/api/products/search?q=${w}`,
        )
        assert.equal(reply.status, 200, reply.text)
        assert.deepEqual(
          reply.body.items.map((p) => p.id),
          [inName.id, inDescription.id],
        )
        assert.ok(reply.body.items[0]!.rank > reply.body.items[1]!.rank)
        assert.equal(reply.body.nextCursor, null)
        // Words are stemmed: the plural finds the singular.
        const stemmed = await call<{ items: Product[] }>(
          'GET',
          `/api/products/search?q=${encodeURIComponent('sunny days')}`,
        )
        assert.ok(stemmed.body.items.some((p) => p.id === inDescription.id))
      })

      test('pages of results follow each other without repeats', async () => {
        const w = word()
        const ids: string[] = []
        for (let i = 0; i < 7; i++) {
          ids.push(
            (await create({ name: i % 2 ? `${w} model ${i}` : `Model ${i}`, description: `${w} `.repeat(1 + (i % 3)) }))
              .id,
          )
        }
        const got: string[] = []
        let cursor: string | null = null
        do {
          const reply: Reply<{ items: (Product & { rank: number })[]; nextCursor: string | null }> = await call(
            'GET',
            `/api/products/search?q=${w}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          )
          assert.equal(reply.status, 200, reply.text)
          got.push(...reply.body.items.map((p) => p.id))
          cursor = reply.body.nextCursor
        } while (cursor && got.length < 50)
        assert.equal(new Set(got).size, got.length)
        assert.deepEqual([...got].sort(), [...ids].sort())
      })

      test('a query is required, and nothing matching is an empty page', async () => {
        const missing = assertProblem(await call('GET', '/api/products/search'), 400, 'invalid_parameters')
        assert.ok(
          missing.errors?.some((e) => e.path === '/q'),
          JSON.stringify(missing.errors),
        )
        assertProblem(await call('GET', '/api/products/search?q='), 400, 'invalid_parameters')
        const none = await call<{ items: Product[]; nextCursor: string | null }>(
          'GET',
          `/api/products/search?q=${word()}`,
        )
        assert.equal(none.status, 200)
        assert.deepEqual(none.body, { items: [], nextCursor: null })
        // Search syntax from users is data, never an error.
        const odd = await call('GET', `/api/products/search?q=${encodeURIComponent('"unclosed & | ! (( -')}`)
        assert.equal(odd.status, 200, odd.text)
      })
    })

    describe('bad input: problem+json, never a 500, nothing written', () => {
      async function countAll(): Promise<number> {
        return (await listAll('sort=created', 100)).length
      }

      test('malformed JSON is a 400', async () => {
        const id = `bad-${tag()}`
        const before = await countAll()
        for (const body of [`{"id":"${id}","name":`, `{"id":"${id}",}`, 'nul']) {
          const problem = assertProblem(
            await call('POST', '/api/products', { body, headers: { 'content-type': 'application/json' } }),
            400,
            'malformed_json',
          )
          assert.equal(typeof problem.detail, 'string')
        }
        assertProblem(
          await call('POST', '/api/products', { body: '', headers: { 'content-type': 'application/json' } }),
          400,
          'malformed_json',
        )
        assertProblem(
          await call('PATCH', `/api/products/${id}`, { body: '{', headers: { 'content-type': 'application/json' } }),
          400,
          'malformed_json',
        )
        assertProblem(await get(id), 404, 'not_found')
        assert.equal(await countAll(), before)
      })

      test('wrong types and out-of-range values are a 422 naming the field', async () => {
        const before = await countAll()
        const cases: [Record<string, unknown>, string][] = [
          [{ price: 'abc' }, '/price'],
          [{ price: -1 }, '/price'],
          [{ price: true }, '/price'],
          [{ stock: -1 }, '/stock'],
          [{ stock: 1.5 }, '/stock'],
          [{ stock: '5' }, '/stock'],
          [{ name: '' }, '/name'],
          [{ name: 42 }, '/name'],
          [{ name: 'x'.repeat(201) }, '/name'],
          [{ currency: 'usd' }, '/currency'],
          [{ currency: 'ZZZ' }, '/currency'],
          [{ category: '' }, '/category'],
          [{ id: 'has space' }, '/id'],
          [{ colour: 'red' }, '/colour'],
          [{ price: 29.999 }, '/price'],
          [{ price: '29.999' }, '/price'],
          [{ price: 1.5, currency: 'JPY' }, '/price'],
        ]
        for (const [fields, path] of cases) {
          const id = `bad-${tag()}`
          const reply = await call('POST', '/api/products', {
            json: { id, name: 'Valid name', price: 10, stock: 1, ...fields },
          })
          assertFailsAt(reply, path)
          assertProblem(await get(id), 404, 'not_found')
        }
        const noName = await call('POST', '/api/products', { json: { price: 1 } })
        assertFailsAt(noName, '/name')
        assert.equal((noName.body as Problem).errors!.find((e) => e.path === '/name')!.code, 'required')
        const extra = (await call('POST', '/api/products', { json: { name: 'n', price: 1, colour: 'red' } }))
          .body as Problem
        assert.equal(extra.errors!.find((e) => e.path === '/colour')!.code, 'unknown_property')
        for (const body of [[], 'a string', 42, null]) {
          assertProblem(await call('POST', '/api/products', { json: body }), 422, 'validation_failed')
        }
        assert.equal(await countAll(), before)
      })

      test('a body that is not JSON is a 415', async () => {
        const id = `bad-${tag()}`
        for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
          const body =
            type === 'text/plain' ? JSON.stringify({ id, name: 'Plain', price: 1 }) : `id=${id}&name=x&price=1`
          assertProblem(
            await call('POST', '/api/products', { body, headers: { 'content-type': type } }),
            415,
            'unsupported_media_type',
          )
        }
        assertProblem(await get(id), 404, 'not_found')
      })

      test('a body over BODY_LIMIT is a 413', async () => {
        const id = `big-${tag()}`
        const reply = await call('POST', '/api/products', {
          json: { id, name: 'Big', price: 1, description: 'x'.repeat(BODY_LIMIT) },
        })
        assertProblem(reply, 413, 'payload_too_large')
        assertProblem(await get(id), 404, 'not_found')
        // Just under the limit is fine.
        const fits = await call('POST', '/api/products', {
          json: { id, name: 'Fits', price: 1, description: 'x'.repeat(BODY_LIMIT - 200) },
        })
        assert.equal(fits.status, 201, fits.text)
      })

      test('an unknown route is a 404 route_not_found; a wrong method is not a 500', async () => {
        const problem = assertProblem(await call('GET', '/api/nothing-here'), 404, 'route_not_found')
        assert.match(problem.detail ?? '', /\/api\/nothing-here/)
        assertProblem(await call('POST', '/no/such/thing', { json: {} }), 404, 'route_not_found')
        const wrongMethod = await call('PUT', '/api/products/x', { json: { name: 'x' } })
        assert.ok(wrongMethod.status >= 400 && wrongMethod.status < 500, String(wrongMethod.status))
        assert.match(wrongMethod.headers.get('content-type') ?? '', /^application\/problem\+json/)
      })

      test('after all that the process still answers', async () => {
        const reply = await call('GET', '/health/ready')
        assert.equal(reply.status, 200)
      })
    })

    describe('the read cache', () => {
      const counter = async (name: string): Promise<number> => {
        const metrics = await (await fetch(node.metricsUrl!)).text()
        return Number(new RegExp(`^${name}\\{service="catalog"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0)
      }

      test('repeated reads are hits; after a committed change, this process never answers the old product, page or search', async () => {
        const word = `cached${tag().replace(/\d/g, '')}`
        const product = await create({ name: `Lamp ${word}`, category: word, stock: 4 })
        const hitsBefore = await counter('mosaic_cache_hits_total')
        const missesBefore = await counter('mosaic_cache_misses_total')
        for (let i = 0; i < 3; i++) assert.equal((await get(product.id)).body.name, `Lamp ${word}`)
        const page = async (): Promise<string[]> =>
          (await call<{ items: Product[] }>('GET', `/api/products?category=${word}`)).body.items.map(
            (p) => `${p.name}/${p.stock}`,
          )
        const found = async (): Promise<string[]> =>
          (await call<{ items: Product[] }>('GET', `/api/products/search?q=${word}`)).body.items.map((p) => p.name)
        assert.deepEqual(await page(), [`Lamp ${word}/4`])
        assert.deepEqual(await page(), [`Lamp ${word}/4`])
        assert.deepEqual(await found(), [`Lamp ${word}`])
        assert.equal(
          (await counter('mosaic_cache_misses_total')) - missesBefore,
          3,
          'one load each: product, page, search',
        )
        assert.ok((await counter('mosaic_cache_hits_total')) - hitsBefore >= 3)

        assert.equal(
          (await call('PATCH', `/api/products/${product.id}`, { json: { name: `Desk ${word}` } })).status,
          200,
        )
        assert.equal((await get(product.id)).body.name, `Desk ${word}`)
        assert.deepEqual(await found(), [`Desk ${word}`])
        await invoke('reserveStock', { orderId: `order-${tag()}`, items: [{ productId: product.id, quantity: 3 }] })
        assert.deepEqual(await page(), [`Desk ${word}/1`])
        assert.equal((await get(product.id)).body.stock, 1)
        const other = await create({ name: `Chair ${word}`, category: word })
        assert.deepEqual(await page(), [`Chair ${word}/0`, `Desk ${word}/1`])
        assert.equal((await call('DELETE', `/api/products/${other.id}`)).status, 204)
        assert.equal((await get(other.id)).status, 404)
        assert.deepEqual(await page(), [`Desk ${word}/1`])
      })
    })

    describe('inventory actions (in-process calls)', () => {
      test('reserve takes every line or none', async () => {
        const plenty = await create({ id: `a-${tag()}`, stock: 10 })
        const scarce = await create({ id: `b-${tag()}`, stock: 1 })
        const orderId = `order-${tag()}`
        await assert.rejects(
          invoke('reserveStock', {
            orderId,
            items: [
              { productId: plenty.id, quantity: 4 },
              { productId: scarce.id, quantity: 2 },
            ],
          }),
          isMosaic('out_of_stock', 409),
        )
        assert.equal(await stockOf(plenty.id), 10)
        assert.equal(await stockOf(scarce.id), 1)
        // The failed attempt left no reservation behind: the same order id can try again.
        const retry = await invoke('reserveStock', {
          orderId,
          items: [
            { productId: plenty.id, quantity: 4 },
            { productId: scarce.id, quantity: 1 },
          ],
        })
        assert.equal(retry.status, 'reserved')
        assert.equal(await stockOf(plenty.id), 6)
        assert.equal(await stockOf(scarce.id), 0)
      })

      test('an unknown product fails the whole reservation', async () => {
        const product = await create({ stock: 5 })
        await assert.rejects(
          invoke('reserveStock', {
            orderId: `order-${tag()}`,
            items: [
              { productId: product.id, quantity: 1 },
              { productId: `ghost-${tag()}`, quantity: 1 },
            ],
          }),
          isMosaic('not_found', 404),
        )
        assert.equal(await stockOf(product.id), 5)
      })

      test('reserving again with the same order id returns the same result and takes stock once', async () => {
        const product = await create({ stock: 10 })
        const orderId = `order-${tag()}`
        const items = [{ productId: product.id, quantity: 3 }]
        const first = await invoke('reserveStock', { orderId, items })
        assert.deepEqual(first, { orderId, status: 'reserved', items })
        const second = await invoke('reserveStock', { orderId, items })
        assert.deepEqual(second, first)
        assert.equal(await stockOf(product.id), 7)
        // Lines for one product are merged.
        const merged = await create({ stock: 10 })
        const mergedOrder = `order-${tag()}`
        const reservation = await invoke('reserveStock', {
          orderId: mergedOrder,
          items: [
            { productId: merged.id, quantity: 2 },
            { productId: merged.id, quantity: 3 },
          ],
        })
        assert.deepEqual(reservation.items, [{ productId: merged.id, quantity: 5 }])
        assert.equal(await stockOf(merged.id), 5)
      })

      test('release gives the stock back; releasing again changes nothing', async () => {
        const product = await create({ stock: 8 })
        const orderId = `order-${tag()}`
        await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 5 }] })
        assert.equal(await stockOf(product.id), 3)
        const released = await invoke('releaseStock', { orderId })
        assert.equal(released.status, 'released')
        assert.deepEqual(released.items, [{ productId: product.id, quantity: 5 }])
        assert.equal(await stockOf(product.id), 8)
        const again = await invoke('releaseStock', { orderId })
        assert.deepEqual(again, released)
        assert.equal(await stockOf(product.id), 8)
        // A released order cannot come back to life.
        const late = await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 5 }] })
        assert.equal(late.status, 'released')
        assert.equal(await stockOf(product.id), 8)
      })

      test('a release that arrives before its reservation makes the reservation hold nothing', async () => {
        const product = await create({ stock: 4 })
        const orderId = `order-${tag()}`
        const released = await invoke('releaseStock', { orderId })
        assert.deepEqual(released, { orderId, status: 'released', items: [] })
        const late = await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 2 }] })
        assert.equal(late.status, 'released')
        assert.deepEqual(late.items, [])
        assert.equal(await stockOf(product.id), 4)
      })

      test('commit makes the reservation a sale; releasing it later gives the stock back once', async () => {
        const product = await create({ stock: 6 })
        const orderId = `order-${tag()}`
        await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 2 }] })
        const committed = await invoke('commitStock', { orderId })
        assert.deepEqual(committed, { orderId, status: 'committed', items: [{ productId: product.id, quantity: 2 }] })
        assert.deepEqual(await invoke('commitStock', { orderId }), committed)
        assert.equal(await stockOf(product.id), 4)
        // A confirmed order cancelled: its stock goes back on the shelf, once however often asked.
        const released = await invoke('releaseStock', { orderId })
        assert.deepEqual(released, { orderId, status: 'released', items: [{ productId: product.id, quantity: 2 }] })
        assert.deepEqual(await invoke('releaseStock', { orderId }), released)
        assert.equal(await stockOf(product.id), 6)
        // And it stays released: a late commit is refused and takes nothing.
        await assert.rejects(invoke('commitStock', { orderId }), isMosaic('reservation_closed', 409))
        assert.equal(await stockOf(product.id), 6)
      })

      test('committed stock is sold: its product may be deleted, and a later release of it still succeeds', async () => {
        const product = await create({ stock: 6 })
        const orderId = `order-${tag()}`
        await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 2 }] })
        await invoke('commitStock', { orderId })
        assert.equal((await call('DELETE', `/api/products/${product.id}`)).status, 204)
        assert.equal((await invoke('releaseStock', { orderId })).status, 'released')
        assert.equal((await get(product.id)).status, 404, 'a release does not bring a deleted product back')
      })

      test('commit after release, and commit of nothing, are refused', async () => {
        const product = await create({ stock: 6 })
        const orderId = `order-${tag()}`
        await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 2 }] })
        await invoke('releaseStock', { orderId })
        await assert.rejects(invoke('commitStock', { orderId }), isMosaic('reservation_closed', 409))
        assert.equal(await stockOf(product.id), 6)
        await assert.rejects(invoke('commitStock', { orderId: `order-${tag()}` }), isMosaic('not_found', 404))
      })

      test('a product with stock held for an order cannot be deleted', async () => {
        const product = await create({ stock: 6 })
        const orderId = `order-${tag()}`
        await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 1 }] })
        assertProblem(await call('DELETE', `/api/products/${product.id}`), 409, 'conflict')
        assert.equal((await get(product.id)).status, 200)
        await invoke('releaseStock', { orderId })
        assert.equal((await call('DELETE', `/api/products/${product.id}`)).status, 204)
      })

      test('action input is validated', async () => {
        const product = await create({ stock: 6 })
        for (const input of [
          { orderId: `order-${tag()}`, items: [] },
          { orderId: `order-${tag()}`, items: [{ productId: product.id, quantity: 0 }] },
          { orderId: `order-${tag()}`, items: [{ productId: product.id, quantity: 1.5 }] },
          { orderId: '', items: [{ productId: product.id, quantity: 1 }] },
          { orderId: `order-${tag()}`, items: [{ productId: product.id, quantity: 1 }], extra: true },
        ]) {
          // Called without a wrapper: bad input must reject the promise, not throw at the caller.
          await assert.rejects(invoke('reserveStock', input), isMosaic('validation_failed', 422), JSON.stringify(input))
        }
        assert.equal(await stockOf(product.id), 6)
      })

      test('50 concurrent reservations against 10 in stock: exactly 10 succeed, never below zero', async () => {
        const product = await create({ stock: 10 })
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) =>
            invoke('reserveStock', { orderId: `order-${tag()}-${i}`, items: [{ productId: product.id, quantity: 1 }] }),
          ),
        )
        const ok = results.filter((r) => r.status === 'fulfilled')
        const failed = results.filter((r) => r.status === 'rejected')
        for (const f of failed) isMosaic('out_of_stock', 409)(f.reason)
        assert.equal(ok.length, 10)
        assert.equal(failed.length, 40)
        assert.equal(await stockOf(product.id), 0)
      })

      test('concurrent repeats of one order id take the stock once', async () => {
        const product = await create({ stock: 10 })
        const orderId = `order-${tag()}`
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 3 }] }),
          ),
        )
        for (const r of results)
          assert.deepEqual(r, { orderId, status: 'reserved', items: [{ productId: product.id, quantity: 3 }] })
        assert.equal(await stockOf(product.id), 7)
      })
    })

    describe('events, health, metrics, OpenAPI, edge headers', () => {
      test('product.created is written to the outbox and delivered to subscribers', async () => {
        const product = await create({ name: 'Eventful', price: 4.2 })
        let delivered: CloudEvent | undefined
        await eventually('product.created to be delivered', async () => {
          delivered = [...seen.values()].find((e) => (e.data as Product).id === product.id)
          return delivered !== undefined
        })
        assert.equal(delivered!.specversion, '1.0')
        assert.equal(delivered!.type, 'product.created')
        assert.equal(delivered!.subject, product.id)
        assert.match(delivered!.source, /catalog/)
        assert.match(delivered!.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
        assert.deepEqual(delivered!.data, product)

        const backlog = (): Promise<number> =>
          node.engine
            .forSchema('catalog')
            .query<{ n: bigint }>('select count(*) as n from mosaic_outbox')
            .then((rows) => Number(rows[0]!.n))
        await eventually('the outbox to drain', async () => (await backlog()) === 0)

        assertProblem(await call('GET', '/metrics'), 404, 'route_not_found') // not on the public port
        const response = await fetch(node.metricsUrl!)
        const metrics = { status: response.status, headers: response.headers, text: await response.text() }
        assert.equal(metrics.status, 200)
        assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/)
        const sent =
          /^messaging_client_sent_messages_total\{service="catalog",messaging_destination_name="product.created",messaging_system="[a-z]+"\} (\d+)$/m.exec(
            metrics.text,
          )
        assert.ok(sent, 'the product.created counter is exported')
        assert.ok(Number(sent[1]) >= 1)
        assert.match(
          metrics.text,
          /^messaging_client_consumed_messages_total\{service="catalog",subscription="catalog-test\/product.created",outcome="ok",messaging_system="[a-z]+"\} [1-9]\d*$/m,
        )
        assert.match(metrics.text, /^mosaic_outbox_backlog\{service="catalog"\} 0$/m)
        // Labelled with the service that answered, not the gateway it was mounted in.
        assert.match(
          metrics.text,
          /^http_server_request_duration_seconds_count\{service="catalog",http_request_method="POST",http_route="\/api\/products",http_response_status_code="201"\} \d+$/m,
        )
        assert.match(
          metrics.text,
          /http_route="\/api\/products\/:id"/,
          'routes are labelled by pattern, not by raw path',
        )
        assert.doesNotMatch(metrics.text, new RegExp(`http_route="[^"]*${product.id}`))
      })

      test('updates, deletes and reservations publish their events', async () => {
        const product = await create({ stock: 10 })
        const sentCount = async (type: string): Promise<number> => {
          const text = await (await fetch(node.metricsUrl!)).text()
          const match = new RegExp(
            `^messaging_client_sent_messages_total\\{service="catalog",messaging_destination_name="${type.replace('.', '\\.')}",messaging_system="[a-z]+"\\} (\\d+)$`,
            'm',
          ).exec(text)
          return match ? Number(match[1]) : 0
        }
        const types = [
          'product.updated',
          'product.deleted',
          'inventory.reserved',
          'inventory.released',
          'inventory.low',
        ]
        const before = Object.fromEntries(await Promise.all(types.map(async (t) => [t, await sentCount(t)] as const)))
        const orderId = `order-${tag()}`
        await invoke('reserveStock', { orderId, items: [{ productId: product.id, quantity: 6 }] }) // 10 → 4: below the threshold of 5
        await invoke('releaseStock', { orderId })
        assert.equal((await call('PATCH', `/api/products/${product.id}`, { json: { name: 'Renamed' } })).status, 200)
        assert.equal((await call('DELETE', `/api/products/${product.id}`)).status, 204)
        for (const type of types) {
          await eventually(`${type} to be sent`, async () => (await sentCount(type)) > before[type]!)
        }
      })

      test('health endpoints answer application/health+json with status pass', async () => {
        for (const path of ['/health/live', '/health/ready']) {
          const reply = await call<{ status: string; checks?: Record<string, { status: string }[]> }>('GET', path)
          assert.equal(reply.status, 200, path)
          assert.match(reply.headers.get('content-type') ?? '', /^application\/health\+json/)
          assert.equal(reply.body.status, 'pass')
        }
        const ready = await call<{ checks: Record<string, { status: string }[]> }>('GET', '/health/ready')
        assert.equal(ready.body.checks.database![0]!.status, 'pass')
        assert.equal(ready.body.checks.events![0]!.status, 'pass')
      })

      test('/openapi.json describes the catalog routes', async () => {
        const reply = await call<{
          openapi: string
          paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
        }>('GET', '/openapi.json')
        assert.equal(reply.status, 200)
        assert.equal(reply.body.openapi, '3.1.0')
        assert.ok(reply.body.paths['/api/products/{id}'], Object.keys(reply.body.paths).join(', '))
        assert.deepEqual(Object.keys(reply.body.paths['/api/products/{id}']!).sort(), ['delete', 'get', 'patch'])
        assert.deepEqual(Object.keys(reply.body.paths['/api/products']!).sort(), ['get', 'post'])
        assert.ok(reply.body.paths['/api/products/search']?.get)
        assert.ok(reply.body.paths['/api/products']!.post!.responses['201'])
        // Inventory actions are internal: not on the public API.
        assert.ok(!JSON.stringify(reply.body.paths).includes('reserveStock'))
      })

      test('API responses carry security headers and are not cached', async () => {
        const product = await create()
        for (const reply of [
          await get(product.id),
          await call('GET', '/api/products'),
          await get(`missing-${tag()}`),
        ]) {
          assert.equal(reply.headers.get('x-content-type-options'), 'nosniff')
          assert.equal(reply.headers.get('cache-control'), 'no-store')
          assert.ok(reply.headers.get('content-security-policy'))
          assert.equal(reply.headers.get('x-powered-by'), null)
        }
      })

      test('CORS: an allowed origin gets the preflight headers, another origin does not', async () => {
        const preflight = (origin: string): Promise<Response> =>
          fetch(`${node.url}/api/products`, {
            method: 'OPTIONS',
            headers: {
              origin,
              'access-control-request-method': 'POST',
              'access-control-request-headers': 'content-type, authorization',
            },
          })
        const allowed = await preflight(ALLOWED_ORIGIN)
        assert.ok(allowed.status >= 200 && allowed.status < 300, String(allowed.status))
        assert.equal(allowed.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN)
        assert.match(allowed.headers.get('access-control-allow-methods') ?? '', /POST/)
        assert.match(
          allowed.headers.get('access-control-allow-headers') ?? '',
          /authorization/i,
          'a bearer token may be sent',
        )
        const other = await preflight('http://evil.test')
        assert.equal(other.headers.get('access-control-allow-origin'), null)
        const simple = await fetch(`${node.url}/api/products?limit=1`, { headers: { origin: ALLOWED_ORIGIN } })
        assert.equal(simple.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN)
        const simpleOther = await fetch(`${node.url}/api/products?limit=1`, { headers: { origin: 'http://evil.test' } })
        assert.equal(simpleOther.headers.get('access-control-allow-origin'), null)
      })
    })
  })
}
