// Brute-force protection. Failed sign-ins are counted per account (tenant + email, whether or
// not such an account exists, so a lockout tells nothing about which emails are registered) and
// per client (an address, or an IPv6 /64: kit/client-key.ts). Past a threshold each further failure doubles the lockout, up to a cap.
import { MosaicError, clientKey, type Sql } from '../../kit/index.ts'

export interface ThrottlePolicy {
  readonly accountThreshold: number
  readonly ipThreshold: number
  readonly baseSeconds: number
  readonly maxSeconds: number
}

export const throttleKeys = (tenant: string, email: string, ip: string): { account: string; ip: string } => ({
  account: `account:${tenant}:${email}`,
  ip: `ip:${clientKey(ip)}`,
})

/** The answer while locked: the same for sign-in and for checking a current password. */
export function lockedOut(seconds: number): MosaicError {
  return new MosaicError('too_many_attempts', {
    detail: 'sign-in is locked for a while after repeated failures',
    retryAfter: seconds,
  })
}

/** Seconds until the later of the keys' lockouts ends; 0 when none is locked. */
export async function lockedFor(db: Sql, keys: readonly string[]): Promise<number> {
  const [row] = await db.query<{ seconds: number | null }>(
    'select ceil(extract(epoch from max(locked_until) - now())) as seconds from login_failures where key = any($1) and locked_until > now()',
    [keys],
  )
  return Number(row?.seconds ?? 0)
}

/** Counts a failure against each key; returns when the account's lockout ends, if this failure locks it. */
export async function recordFailure(
  tx: Sql,
  keys: { account: string; ip: string },
  policy: ThrottlePolicy,
): Promise<Date | undefined> {
  let accountLock: Date | undefined
  for (const [key, threshold] of [
    [keys.account, policy.accountThreshold],
    [keys.ip, policy.ipThreshold],
  ] as const) {
    // The exponent is capped so that a long attack cannot overflow the arithmetic.
    const [row] = await tx.query<{ locked_until: Date | null }>(
      `insert into login_failures as f (key, failures, locked_until)
         values ($1, 1, case when $2::int <= 1 then now() + make_interval(secs => least($4::float8, $3::float8)) end)
       on conflict (key) do update set failures = f.failures + 1, updated_at = now(), locked_until = case
         when f.failures + 1 >= $2::int
         then now() + make_interval(secs => least($4::float8, $3::float8 * power(2, least(f.failures + 1 - $2::int, 30))))
         else f.locked_until end
       returning (case when failures >= $2::int then locked_until end) as locked_until`,
      [key, threshold, policy.baseSeconds, policy.maxSeconds],
    )
    if (key === keys.account && row?.locked_until) accountLock = row.locked_until
  }
  return accountLock
}

/** A successful sign-in clears the account's count (not the address's: one success should not reset a spray). */
export async function clearFailures(tx: Sql, accountKey: string): Promise<void> {
  await tx.query('delete from login_failures where key = $1', [accountKey])
}

/**
 * Registrations per client (an address; for IPv6 its /64): at most `max` in a window of `windowSeconds` from its first.
 * Counted in the same table as failed sign-ins (a key of its own; `locked_until` is the window's
 * end), so every instance of the service shares the count. Returns the seconds to wait, or 0.
 */
export async function countRegistration(db: Sql, ip: string, max: number, windowSeconds: number): Promise<number> {
  const [row] = await db.query<{ failures: number; seconds: number }>(
    `insert into login_failures as f (key, failures, locked_until) values ($1, 1, now() + make_interval(secs => $2))
     on conflict (key) do update set updated_at = now(),
       failures = case when f.locked_until > now() then f.failures + 1 else 1 end,
       locked_until = case when f.locked_until > now() then f.locked_until else now() + make_interval(secs => $2) end
     returning failures, ceil(extract(epoch from locked_until - now()))::int as seconds`,
    [`register:${clientKey(ip)}`, windowSeconds],
  )
  return row && row.failures > max ? Math.max(1, Number(row.seconds)) : 0
}
