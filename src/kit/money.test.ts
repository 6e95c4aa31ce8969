import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toMinor, toDecimal, toAmount, minorDigits } from './money.ts'
import { MosaicError } from './errors.ts'

test('decimal amounts become exact minor units', () => {
  assert.equal(toMinor(29.99, 'USD'), 2999n)
  assert.equal(toMinor('29.99', 'USD'), 2999n)
  assert.equal(toMinor(0.3, 'USD'), 30n)
  assert.equal(toMinor(1005, 'JPY'), 1005n)
  assert.equal(toMinor('1.234', 'BHD'), 1234n)
  assert.equal(toMinor(-5.5, 'EUR'), -550n)
  assert.equal(toMinor('10.50', 'USD'), 1050n)
  assert.equal(toMinor('10.500', 'USD'), 1050n, 'trailing zeros beyond the minor unit are harmless')
})

test('amounts that cannot be represented exactly are rejected, not rounded', () => {
  for (const bad of [29.999, '1.001', 'abc', '1e5', 1e21, '', '12.', NaN, Infinity]) {
    assert.throws(
      () => toMinor(bad as number, 'USD'),
      (e: unknown) => e instanceof MosaicError && e.code === 'validation_failed',
      String(bad),
    )
  }
  assert.throws(() => toMinor(1.5, 'JPY'), MosaicError)
  assert.throws(() => minorDigits('XXXX'), MosaicError)
})

test('minor units render back to the decimal the client sent', () => {
  assert.equal(toDecimal(2999n, 'USD'), '29.99')
  assert.equal(toDecimal(5n, 'USD'), '0.05')
  assert.equal(toDecimal(-550n, 'EUR'), '-5.50')
  assert.equal(toDecimal(1005n, 'JPY'), '1005')
  assert.equal(toAmount(2999n, 'USD'), 29.99)
  assert.equal(JSON.stringify({ price: toAmount(toMinor(29.99, 'USD'), 'USD') }), '{"price":29.99}')
})
