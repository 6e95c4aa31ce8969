// Recovery codes: ten issued when TOTP is confirmed, shown once, each usable once in place of a
// one-time code (at sign-in, or to switch MFA off). A code is 128 random bits, written as 32 hex
// digits in groups of 8. Only SHA-256 hashes are stored, as for refresh tokens: with 128 bits of
// entropy nothing can be guessed offline, so argon2's cost would buy nothing, and a plain hash can
// be looked up by value instead of verified against each stored code in turn.
import { randomBytes } from 'node:crypto'
import type { Sql } from '../../kit/index.ts'
import { hashSecret } from './sessions.ts'

export const RECOVERY_CODES = 10

/** Accepted as typed: any case, with or without the dashes. */
export const RECOVERY_CODE_PATTERN = '^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{8}){3}$'

const hashCode = (code: string): string => hashSecret(code.replaceAll('-', '').toLowerCase())

/** Replaces the user's codes with a new set, returned in clear (the only time they are). */
export async function issueRecoveryCodes(tx: Sql, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODES }, () => randomBytes(16).toString('hex').match(/.{8}/g)!.join('-'))
  await tx.query('delete from recovery_codes where user_id = $1', [userId])
  await tx.query('insert into recovery_codes (user_id, code_hash) select $1, unnest($2::text[])', [
    userId,
    codes.map(hashCode),
  ])
  return codes
}

/** Whether the code is one of the user's unused ones (checked before the transaction that spends it). */
export async function hasRecoveryCode(db: Sql, userId: string, code: string): Promise<boolean> {
  return (
    (
      await db.query('select 1 from recovery_codes where user_id = $1 and code_hash = $2 and used_at is null', [
        userId,
        hashCode(code),
      ])
    ).length > 0
  )
}

/** Marks the code used; the codes still unused, or undefined when it was not (any longer) unused. */
export async function spendRecoveryCode(tx: Sql, userId: string, code: string): Promise<number | undefined> {
  const [spent] = await tx.query(
    'update recovery_codes set used_at = now() where user_id = $1 and code_hash = $2 and used_at is null returning 1',
    [userId, hashCode(code)],
  )
  if (!spent) return undefined
  const [left] = await tx.query<{ n: number }>(
    'select count(*)::int as n from recovery_codes where user_id = $1 and used_at is null',
    [userId],
  )
  return left?.n ?? 0
}
