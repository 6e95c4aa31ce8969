// The Idempotency-Key request header (draft-ietf-httpapi-idempotency-key-header), which the public
// API asks for on unsafe requests that create orders or move money. Each service keeps its own
// record of the keys it has seen (what a repeat gets back is the service's business); reading the
// header, and the errors a client sees about it, are the platform's, so they are the same everywhere.
import { MosaicError } from './errors.ts'

/** Longest key accepted: services pass keys on as parts of their own, bounded, idempotency keys. */
export const IDEMPOTENCY_KEY_MAX = 200

/** The key from the headers: required, one value of 1–200 visible ASCII characters (quotes allowed around it). */
export function idempotencyKey(headers: Readonly<Record<string, string | string[] | undefined>>): string {
  const value = headers['idempotency-key']
  if (value === undefined || value === '')
    throw new MosaicError('idempotency_key_missing', {
      detail: 'send an Idempotency-Key header: this request must not take effect twice',
    })
  const key = typeof value === 'string' ? value.replace(/^"(.*)"$/, '$1') : ''
  if (!new RegExp(`^[\\x21-\\x7e]{1,${IDEMPOTENCY_KEY_MAX}}$`).test(key)) {
    throw new MosaicError('bad_request', {
      detail: `Idempotency-Key must be one value of 1 to ${IDEMPOTENCY_KEY_MAX} visible ASCII characters`,
    })
  }
  return key
}
