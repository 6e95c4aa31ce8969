// Money is integer minor units (bigint) in storage and arithmetic. Decimal amounts
// only exist at the API edge, and are converted by string manipulation, never by
// floating-point multiplication (29.99 * 100 === 2998.9999999999995).
import Type from 'typebox'
import { MosaicError } from './errors.ts'

const digitsCache = new Map<string, number>()
// Intl.NumberFormat accepts any three letters (ZZZ gets 2 digits), so check the code against ICU's list first.
const knownCurrencies = new Set(Intl.supportedValuesOf('currency'))

/** Number of minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, BHD 3), from the runtime's ICU data. */
export function minorDigits(currency: string): number {
  let digits = digitsCache.get(currency)
  if (digits === undefined) {
    if (!knownCurrencies.has(currency)) {
      throw new MosaicError('validation_failed', {
        issues: [{ path: '/currency', code: 'currency', message: `${currency} is not an ISO 4217 currency code` }],
      })
    }
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
    digitsCache.set(currency, digits)
  }
  return digits
}

const DECIMAL = /^(-?)(\d{1,15})(?:\.(\d+))?$/

/**
 * Parses a decimal amount (a JSON number as written by the client, or a decimal string) into minor units.
 * A JSON number reaches us as the double nearest to what the client wrote; `String()` gives back the
 * shortest decimal that round-trips, which is what the client wrote for any amount of up to 15 digits.
 */
export function toMinor(amount: number | string, currency: string, path = '/price'): bigint {
  const text = typeof amount === 'number' ? String(amount) : amount.trim()
  const match = DECIMAL.exec(text)
  const digits = minorDigits(currency)
  const fraction = match?.[3] ?? ''
  if (!match || fraction.replace(/0+$/, '').length > digits) {
    throw new MosaicError('validation_failed', {
      issues: [
        {
          path,
          code: 'money',
          message: `must be a decimal amount with at most ${digits} decimal places in ${currency}`,
        },
      ],
    })
  }
  const minor = BigInt(match[2] + fraction.padEnd(digits, '0').slice(0, digits))
  return match[1] === '-' ? -minor : minor
}

/** Minor units back to a decimal string: 2999n USD → "29.99". */
export function toDecimal(minor: bigint, currency: string): string {
  const digits = minorDigits(currency)
  const sign = minor < 0n ? '-' : ''
  const abs = (minor < 0n ? -minor : minor).toString().padStart(digits + 1, '0')
  return digits === 0 ? sign + abs : `${sign}${abs.slice(0, -digits)}.${abs.slice(-digits)}`
}

/** The JSON number for an amount: exact for any amount below 2^53 minor units (about 90 trillion dollars). */
export function toAmount(minor: bigint, currency: string): number {
  return Number(toDecimal(minor, currency))
}

/** The schema of a currency code in contracts (checked against ICU's list where amounts are converted). */
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' })

/** The schema of an amount in contracts: a decimal JSON number, exact to the currency's minor unit. */
export const Amount = Type.Number({
  minimum: 0,
  maximum: 1e13,
  description: "Decimal amount, exact to the currency's minor unit",
})
