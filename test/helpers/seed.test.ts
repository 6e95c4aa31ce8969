import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mulberry32 } from './seed.ts'

test('one seed, one sequence: a crash test replays its kill moments from TEST_SEED', () => {
  const draw = (seed: number) => {
    const r = mulberry32(seed)
    return Array.from({ length: 5 }, r)
  }
  assert.deepEqual(draw(42), draw(42))
  assert.notDeepEqual(draw(42), draw(43))
  const many = Array.from({ length: 10_000 }, mulberry32(7))
  assert.ok(many.every((x) => x >= 0 && x < 1))
  const mean = many.reduce((a, b) => a + b, 0) / many.length
  assert.ok(Math.abs(mean - 0.5) < 0.02, `about uniform (mean ${mean})`)
})
