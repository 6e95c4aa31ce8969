import { test } from 'node:test'
import assert from 'node:assert/strict'
import Type from 'typebox'
import { validator } from './validation.ts'

test('a validator reads and compiles its schema on first use, not when made', () => {
  const read: PropertyKey[] = []
  const schema = new Proxy(Type.Object({ n: Type.Integer() }), {
    get(target, key, receiver) {
      read.push(key)
      return Reflect.get(target, key, receiver) as unknown
    },
  })
  const v = validator(schema)
  assert.deepEqual(read, [])
  assert.deepEqual(v.parse({ n: 1 }), { n: 1 })
  assert.ok(read.length > 0)
  assert.throws(() => v.parse({ n: 'one' }), { code: 'validation_failed' })
  assert.equal(v.check({ n: 2 }), true)
})
