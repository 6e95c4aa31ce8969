// TOTP second factor (RFC 6238): SHA-1, 6 digits, 30 s steps, what every authenticator app accepts.
import { HOTP, Secret, TOTP } from 'otpauth'

const PERIOD = 30
const DIGITS = 6
const ALGORITHM = 'SHA1'
const CODE = /^\d{6}$/

/** A base32 secret of 20 random bytes (160 bits, RFC 4226's recommendation). */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32
}

/** The otpauth:// URI an authenticator app scans as a QR code. */
export function totpUri(secret: string, account: string, issuer: string): string {
  return new TOTP({ issuer, label: account, secret, algorithm: ALGORITHM, digits: DIGITS, period: PERIOD }).toString()
}

/**
 * RFC 6238, 30 s step, 6 digits, ±1 step: the time step `code` matches if it is later than `lastStep`
 * (a used code is refused), else undefined. `now` is in milliseconds.
 */
export function matchTotp(
  secret: string,
  code: string,
  lastStep: number | undefined,
  now = Date.now(),
): number | undefined {
  if (!CODE.test(code)) return undefined
  const key = Secret.fromBase32(secret)
  const current = TOTP.counter({ period: PERIOD, timestamp: now })
  // One step each way allows for clock drift and a code typed just as it rolled over.
  // Each step is checked on its own so a used step is skipped rather than masking a later one.
  for (const step of [current, current - 1, current + 1]) {
    if (lastStep !== undefined && step <= lastStep) continue
    // A TOTP code is the HOTP code of the time step.
    if (
      HOTP.validate({ token: code, secret: key, algorithm: ALGORITHM, digits: DIGITS, counter: step, window: 0 }) === 0
    )
      return step
  }
  return undefined
}

/** The code at a time (milliseconds), for tests and the CLI. */
export function totpCode(secret: string, at: number): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD,
    timestamp: at,
  })
}
