// Signing in. Every refusal looks the same whether or not the email is registered: the same
// status and body, a password check of the same cost (against a dummy hash when there is no
// such user), and the same failure counting (keyed by the email, not by the user).
import type { Logger } from 'pino'
import { MosaicError, type ServiceDb, type Sql, type Identity } from '../../kit/index.ts'
import type { identityContract } from './contract.ts'
import type { PasswordHasher } from './passwords.ts'
import { matchTotp } from './totp.ts'
import { hasRecoveryCode, spendRecoveryCode } from './recovery.ts'
import { normaliseEmail, findUserByEmail, type UserRow } from './users.ts'
import { throttleKeys, lockedFor, recordFailure, clearFailures, lockedOut, type ThrottlePolicy } from './throttle.ts'

export interface LoginAttempt {
  readonly tenant: string
  readonly email: string
  readonly password: string
  readonly totp?: string
  /** In place of `totp`: one of the recovery codes, spent by this sign-in. */
  readonly recoveryCode?: string
  readonly clientIp: string
}

export interface LoginDeps {
  readonly db: ServiceDb<typeof identityContract>
  readonly hasher: PasswordHasher
  readonly throttle: ThrottlePolicy
  readonly log: Logger
}

/**
 * Checks the credentials and returns the user, with `start(tx)` run in the same transaction as
 * clearing the failure count (it opens the session). Refusals are counted before they are thrown.
 */
export async function authenticate<T>(
  attempt: LoginAttempt,
  deps: LoginDeps,
  start: (tx: Sql, identity: Identity) => Promise<T>,
): Promise<T> {
  const email = normaliseEmail(attempt.email)
  const keys = throttleKeys(attempt.tenant, email, attempt.clientIp)
  const wait = await lockedFor(deps.db, [keys.account, keys.ip])
  if (wait > 0) throw lockedOut(wait)

  const user = await findUserByEmail(deps.db, attempt.tenant, email)
  const passwordOk = user
    ? await deps.hasher.verify(user.password_hash, attempt.password)
    : await deps.hasher.verifyDummy(attempt.password)
  const totp: SecondFactor = user && passwordOk ? await checkSecondFactor(deps.db, user, attempt) : {}
  const refusal: Refusal | undefined = !user || !passwordOk ? 'invalid_credentials' : totp.refusal

  return deps.db
    .transaction(async (tx) => {
      // Guesses sent at once all passed the check above, then queued for the hasher. Deciding one
      // at a time per account, after looking again, makes a lock set meanwhile hold for all of them,
      // right password or wrong (answering those differently would tell which guess was right).
      await tx.query('select pg_advisory_xact_lock(hashtext($1))', [keys.account])
      const waitNow = await lockedFor(tx, [keys.account, keys.ip])
      if (waitNow > 0) return { ok: false, refused: 'too_many_attempts', wait: waitNow } as const
      if (refusal === 'mfa_required') return { ok: false, refused: refusal } as const // the password was right: not a failure to count
      if (refusal) {
        const lockedUntil = await recordFailure(tx, keys, deps.throttle)
        // Published for unknown emails too: the same work on both paths, so neither answer is slower
        // (in one process the event's consumers share the database with the next request).
        await tx.publish(
          'user.login_failed',
          { userId: user?.id ?? null, tenantId: user?.tenant_id ?? attempt.tenant, reason: refusal },
          user ? { subject: user.id } : {},
        )
        if (user && lockedUntil)
          await tx.publish(
            'user.locked',
            { userId: user.id, tenantId: user.tenant_id, until: lockedUntil.toISOString() },
            { subject: user.id },
          )
        return { ok: false, refused: refusal } as const
      }
      // The code is spent: the step is recorded only if no concurrent sign-in recorded it first.
      if (totp.step !== undefined) {
        const [spent] = await tx.query(
          'update users set totp_last_step = $2 where id = $1 and (totp_last_step is null or totp_last_step < $2) returning id',
          [user!.id, totp.step],
        )
        if (!spent) return { ok: false, refused: 'invalid_code' } as const
      }
      if (totp.recoveryCode !== undefined) {
        const remaining = await spendRecoveryCode(tx, user!.id, totp.recoveryCode)
        if (remaining === undefined) return { ok: false, refused: 'invalid_code' } as const
        // The owner is told (a security notice): if it was not them, their password and a code are known.
        await tx.publish(
          'user.recovery_code_used',
          { userId: user!.id, tenantId: user!.tenant_id, remaining },
          { subject: user!.id },
        )
        deps.log.warn({ userId: user!.id, remaining }, 'signed in with a recovery code')
      }
      await clearFailures(tx, keys.account)
      return {
        ok: true,
        value: await start(tx, { userId: user!.id, tenantId: user!.tenant_id, roles: user!.roles }),
      } as const
    })
    .then((outcome) => {
      if (!outcome.ok)
        throw outcome.refused === 'too_many_attempts' ? lockedOut(outcome.wait!) : new MosaicError(outcome.refused)
      return outcome.value
    })
}

type Refusal = 'invalid_credentials' | 'mfa_required' | 'invalid_code'
interface SecondFactor {
  readonly refusal?: 'mfa_required' | 'invalid_code'
  readonly step?: number
  readonly recoveryCode?: string
}

/** The time step the code matched or the recovery code given (either spent in the sign-in's transaction), or why it is refused. */
async function checkSecondFactor(db: Sql, user: UserRow, attempt: LoginAttempt): Promise<SecondFactor> {
  if (!user.totp_secret) return {}
  if (attempt.recoveryCode !== undefined) {
    return (await hasRecoveryCode(db, user.id, attempt.recoveryCode))
      ? { recoveryCode: attempt.recoveryCode }
      : { refusal: 'invalid_code' }
  }
  if (attempt.totp === undefined) return { refusal: 'mfa_required' }
  const step = matchTotp(user.totp_secret, attempt.totp, lastStep(user))
  return step === undefined ? { refusal: 'invalid_code' } : { step }
}

export const lastStep = (user: UserRow): number | undefined =>
  user.totp_last_step === null ? undefined : Number(user.totp_last_step)
