import { test } from 'node:test'
import assert from 'node:assert/strict'
import Type from 'typebox'
import { MosaicError, toProblem, fromProblem, toMosaicError, defineErrors, isRetryable } from './errors.ts'
import { validator } from './validation.ts'

test('codes carry their status and retryable flag', () => {
  assert.equal(new MosaicError('not_found').status, 404)
  assert.equal(new MosaicError('unavailable').retryable, true)
  assert.equal(isRetryable(new MosaicError('validation_failed')), false)
  assert.equal(isRetryable(new Error('plain')), false)
})

test('services add their own codes; redefining one differently is refused', () => {
  defineErrors({ test_sold_out: { status: 409, title: 'Sold out', retryable: false } })
  assert.equal(new MosaicError('test_sold_out').status, 409)
  assert.throws(
    () => defineErrors({ test_sold_out: { status: 410, title: 'Gone', retryable: false } }),
    /already defined differently/,
  )
})

test('a problem document has the code, the trace id and field paths, and hides internal details', () => {
  const problem = toProblem(
    new MosaicError('validation_failed', { issues: [{ path: '/price', code: 'type', message: 'must be number' }] }),
    '/api/x',
    'abc',
  )
  assert.deepEqual(problem, {
    type: 'urn:mosaic:problem:validation_failed',
    title: 'Validation failed',
    status: 422,
    code: 'validation_failed',
    retryable: false,
    instance: '/api/x',
    traceId: 'abc',
    errors: [{ path: '/price', code: 'type', message: 'must be number' }],
  })
  const internal = toProblem(toMosaicError(new Error('password=hunter2 leaked')))
  assert.equal(internal.status, 500)
  assert.equal(JSON.stringify(internal).includes('hunter2'), false)
})

test('a problem received over HTTP becomes the same error again', () => {
  const original = new MosaicError('deadline_exceeded', { detail: 'slow' })
  const back = fromProblem(JSON.parse(JSON.stringify(toProblem(original))), 504)
  assert.equal(back.code, 'deadline_exceeded')
  assert.equal(back.retryable, true)
  assert.equal(back.message, 'slow')
  assert.equal(fromProblem('<html>oops</html>', 502).code, 'bad_gateway')
  assert.equal(fromProblem(undefined, 404).code, 'bad_request')
})

test('validation reports every failing field with its path', () => {
  const v = validator(
    Type.Object(
      { name: Type.String({ minLength: 1 }), stock: Type.Integer({ minimum: 0 }), tags: Type.Array(Type.String()) },
      { additionalProperties: false },
    ),
  )
  assert.throws(
    () => v.parse({ name: '', stock: -1.5, tags: [1], extra: true }),
    (e: unknown) => {
      assert.ok(e instanceof MosaicError)
      assert.equal(e.code, 'validation_failed')
      const paths = e.issues.map((i) => i.path).sort()
      assert.deepEqual([...new Set(paths)], ['/extra', '/name', '/stock', '/tags/0'])
      return true
    },
  )
  assert.throws(
    () => v.parse({}),
    (e: unknown) => e instanceof MosaicError && e.issues.map((i) => i.path).join() === '/name,/stock,/tags',
  )
  assert.deepEqual(v.parse({ name: 'a', stock: 1, tags: [] }), { name: 'a', stock: 1, tags: [] })
})

test('URL parameters are converted to their types before validation', () => {
  const v = validator(Type.Object({ limit: Type.Integer({ minimum: 1, default: 20 }) }), {
    coerce: true,
    code: 'invalid_parameters',
  })
  assert.deepEqual(v.parse({ limit: '5' }), { limit: 5 })
  assert.deepEqual(v.parse({}), { limit: 20 })
  assert.throws(
    () => v.parse({ limit: 'many' }),
    (e: unknown) => e instanceof MosaicError && e.code === 'invalid_parameters' && e.status === 400,
  )
})

test('URL numbers must be exact: 1.5 is not an integer, "" and "12abc" are not numbers', () => {
  const v = validator(Type.Object({ limit: Type.Integer({ minimum: 1 }), on: Type.Optional(Type.Boolean()) }), {
    coerce: true,
    code: 'invalid_parameters',
  })
  for (const limit of ['1.5', '', '12abc', 'NaN', 'Infinity']) {
    assert.throws(
      () => v.parse({ limit }),
      (e: unknown) => e instanceof MosaicError && e.issues[0]!.path === '/limit',
      limit,
    )
  }
  assert.deepEqual(v.parse({ limit: '3', on: 'false' }), { limit: 3, on: false })
  assert.throws(() => v.parse({ limit: '3', on: 'yes' }), MosaicError)
})

test('a value matching no branch of a union is one issue naming what each branch wanted', () => {
  const v = validator(Type.Object({ price: Type.Union([Type.Number(), Type.String({ pattern: '^\\d+$' })]) }))
  assert.throws(
    () => v.parse({ price: 'abc' }),
    (e: unknown) => {
      assert.ok(e instanceof MosaicError)
      assert.deepEqual(e.issues, [
        { path: '/price', code: 'anyOf', message: 'must be number, or must match pattern "^\\d+$"' },
      ])
      return true
    },
  )
})
