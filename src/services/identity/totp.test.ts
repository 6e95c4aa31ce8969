import { test } from 'node:test'
import assert from 'node:assert/strict'
import { matchTotp, newTotpSecret, totpCode, totpUri } from './totp.ts'

// RFC 6238 appendix B's SHA-1 key, "12345678901234567890", in base32.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
// The middle of a step, so ±30 s lands in the middle of the neighbouring steps.
const STEP = 56_789_012
const NOW = STEP * 30_000 + 15_000

test("codes match RFC 6238's test vectors (last six digits)", () => {
  assert.equal(totpCode(RFC_SECRET, 59_000), '287082')
  assert.equal(totpCode(RFC_SECRET, 1_111_111_109_000), '081804')
  assert.equal(totpCode(RFC_SECRET, 1_234_567_890_000), '005924')
  assert.equal(totpCode(RFC_SECRET, 2_000_000_000_000), '279037')
})

test('the current code and the codes one step either side match, giving their step', () => {
  assert.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW), undefined, NOW), STEP)
  assert.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW - 30_000), undefined, NOW), STEP - 1)
  assert.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW + 30_000), undefined, NOW), STEP + 1)
})

test('codes two steps away are refused', () => {
  assert.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW - 60_000), undefined, NOW), undefined)
  assert.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW + 60_000), undefined, NOW), undefined)
})

test('a code for a step at or before the last used one is refused', () => {
  const code = totpCode(RFC_SECRET, NOW)
  assert.equal(matchTotp(RFC_SECRET, code, STEP - 1, NOW), STEP)
  assert.equal(matchTotp(RFC_SECRET, code, STEP, NOW), undefined, 'the same code again')
  assert.equal(matchTotp(RFC_SECRET, code, STEP + 1, NOW), undefined)
  assert.equal(
    matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW - 30_000), STEP, NOW),
    undefined,
    'an older code after a newer one',
  )
  assert.equal(
    matchTotp(RFC_SECRET, totpCode(RFC_SECRET, NOW + 30_000), STEP, NOW),
    STEP + 1,
    'the next step is still fine',
  )
})

test('anything but exactly six ASCII digits is refused', () => {
  const code = totpCode(RFC_SECRET, NOW)
  const wrong = [
    code.slice(0, 5),
    `${code}0`,
    `0${code}`,
    ` ${code}`,
    `${code}\n`,
    `${code.slice(0, 5)}a`,
    '',
    'abcdef',
    [...code].map((d) => String.fromCharCode(0xff10 + Number(d))).join(''),
    '-12345',
    '12 345',
    '1e5000',
  ]
  for (const token of wrong)
    assert.equal(matchTotp(RFC_SECRET, token, undefined, NOW), undefined, JSON.stringify(token))
})

test('new secrets are 160 random bits in base32', () => {
  const a = newTotpSecret()
  const b = newTotpSecret()
  assert.match(a, /^[A-Z2-7]{32}$/)
  assert.notEqual(a, b)
  assert.equal(matchTotp(a, totpCode(a, NOW), undefined, NOW), STEP)
})

test('the otpauth URI names the issuer, the account and the secret', () => {
  const secret = newTotpSecret()
  const uri = new URL(totpUri(secret, 'ada@example.com', 'Mosaic Shop'))
  assert.equal(uri.protocol, 'otpauth:')
  assert.equal(uri.host, 'totp')
  assert.equal(decodeURIComponent(uri.pathname), '/Mosaic Shop:ada@example.com')
  assert.equal(uri.searchParams.get('secret'), secret)
  assert.equal(uri.searchParams.get('issuer'), 'Mosaic Shop')
  assert.equal(uri.searchParams.get('algorithm'), 'SHA1')
  assert.equal(uri.searchParams.get('digits'), '6')
  assert.equal(uri.searchParams.get('period'), '30')
})
