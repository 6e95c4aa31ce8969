import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bars, days } from './charts.ts'

test('bars are scaled to the largest value and placed side by side', () => {
  assert.deepEqual(
    bars([
      { label: 'a', value: 5 },
      { label: 'b', value: 10 },
    ]).map((b) => [b.label, b.size, b.at, b.thickness]),
    [
      ['a', 50, 5, 40],
      ['b', 100, 55, 40],
    ],
  )
  assert.deepEqual(
    bars([{ label: 'none', value: 0 }]).map((b) => b.size),
    [0],
    'all zero: empty bars, no division by zero',
  )
  assert.deepEqual(bars([]), [])
})

test('days fill a range, both ends included', () => {
  assert.deepEqual(days('2026-02-27', '2026-03-02'), ['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02'])
  assert.deepEqual(days('2026-03-02', '2026-03-01'), [])
})
