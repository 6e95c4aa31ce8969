// Re-authentication: the current password, asked again before a change a stolen access token must
// not be able to make (a new password, TOTP enrolment, switching MFA off). Wrong guesses count as
// failed sign-ins of the account and the address, and a lockout holds here as at sign-in.
import { MosaicError, type ServiceDb } from '../../kit/index.ts'
import type { identityContract } from './contract.ts'
import type { PasswordHasher } from './passwords.ts'
import { throttleKeys, lockedFor, recordFailure, lockedOut, type ThrottlePolicy } from './throttle.ts'
import type { UserRow } from './users.ts'

export interface ReauthDeps {
  readonly db: ServiceDb<typeof identityContract>
  readonly hasher: PasswordHasher
  readonly throttle: ThrottlePolicy
  readonly clientIp: string
}

/** Throws unless `password` is the user's current one: 422 at /currentPassword, or 429 while locked. */
export async function confirmPassword(user: UserRow, password: string | undefined, deps: ReauthDeps): Promise<void> {
  await refuseWhileLocked(user, deps)
  if (password !== undefined && (await deps.hasher.verify(user.password_hash, password))) return
  if (password !== undefined) await countFailure(user, deps)
  throw new MosaicError('validation_failed', {
    issues: [{ path: '/currentPassword', code: 'current_password', message: 'must be your current password' }],
  })
}

/** 429 while the account or the address is locked out (by failed sign-ins or failed re-authentications). */
export async function refuseWhileLocked(user: UserRow, deps: ReauthDeps): Promise<void> {
  const keys = throttleKeys(user.tenant_id, user.email, deps.clientIp)
  const wait = await lockedFor(deps.db, [keys.account, keys.ip])
  if (wait > 0) throw lockedOut(wait)
}

/** Counts a wrong password or recovery code as a failed sign-in of the account and the address. */
export async function countFailure(user: UserRow, deps: ReauthDeps): Promise<void> {
  await deps.db.transaction((tx) =>
    recordFailure(tx, throttleKeys(user.tenant_id, user.email, deps.clientIp), deps.throttle),
  )
}
