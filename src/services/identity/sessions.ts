// Sign-ins. A bearer sign-in is a family of refresh tokens: each refresh exchanges the token for
// a new one, and presenting an exchanged token again (it was copied) ends the whole family. A
// browser sign-in is an opaque cookie with an idle and an absolute lifetime, and a CSRF token.
// Secrets are 256-bit CSPRNG values; only their SHA-256 hashes are stored.
import { randomBytes, createHash } from 'node:crypto'
import type { Sql, Identity } from '../../kit/index.ts'

export const newSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url')
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('base64url')

export interface SessionSettings {
  readonly refreshTtlSeconds: number
  readonly cookieIdleSeconds: number
  readonly cookieAbsoluteSeconds: number
  readonly csrfBytes: number
}

interface SessionIdentityRow {
  session_id: string
  user_id: string
  tenant_id: string
  roles: string[]
}

const toIdentity = (row: SessionIdentityRow): Identity => ({
  userId: row.user_id,
  tenantId: row.tenant_id,
  roles: row.roles,
  sessionId: row.session_id,
})

/** Starts a bearer sign-in: a new family with its first refresh token. */
export async function startTokenSession(
  tx: Sql,
  userId: string,
  settings: SessionSettings,
): Promise<{ sessionId: string; refreshToken: string }> {
  const [session] = await tx.query<{ id: string }>(
    "insert into sessions (user_id, kind, expires_at) values ($1, 'token', now() + make_interval(secs => $2)) returning id",
    [userId, settings.refreshTtlSeconds],
  )
  const refreshToken = newSecret()
  await tx.query('insert into refresh_tokens (token_hash, session_id) values ($1, $2)', [
    hashSecret(refreshToken),
    session!.id,
  ])
  return { sessionId: session!.id, refreshToken }
}

/**
 * Exchanges a refresh token: the identity it signs in and its successor. A token already
 * exchanged ends its family (reuse means two parties hold it) and is refused, like any unknown,
 * expired or revoked one. The caller's transaction commits the revocation before the error.
 */
export async function rotateRefreshToken(
  tx: Sql,
  refreshToken: string,
): Promise<{ identity: Identity; refreshToken: string } | 'reused' | undefined> {
  const [row] = await tx.query<SessionIdentityRow & { status: string; live: boolean }>(
    `select t.status, s.id as session_id, u.id as user_id, u.tenant_id, u.roles,
            (s.revoked_at is null and s.expires_at > now()) as live
       from refresh_tokens t join sessions s on s.id = t.session_id join users u on u.id = s.user_id
      where t.token_hash = $1 for update of t, s`,
    [hashSecret(refreshToken)],
  )
  if (!row || !row.live) return undefined
  if (row.status !== 'active') {
    await revokeSessions(tx, { sessionId: row.session_id })
    return 'reused'
  }
  const next = newSecret()
  await tx.query("update refresh_tokens set status = 'rotated' where token_hash = $1", [hashSecret(refreshToken)])
  await tx.query('insert into refresh_tokens (token_hash, session_id) values ($1, $2)', [
    hashSecret(next),
    row.session_id,
  ])
  return { identity: toIdentity(row), refreshToken: next }
}

/** Starts a browser sign-in: always a new session id (no fixation), with its CSRF token. */
export async function startCookieSession(
  tx: Sql,
  userId: string,
  settings: SessionSettings,
): Promise<{ secret: string; csrfToken: string }> {
  const secret = newSecret()
  const csrfToken = newSecret(settings.csrfBytes)
  await tx.query(
    "insert into sessions (user_id, kind, secret_hash, csrf_hash, expires_at) values ($1, 'cookie', $2, $3, now() + make_interval(secs => $4))",
    [userId, hashSecret(secret), hashSecret(csrfToken), settings.cookieAbsoluteSeconds],
  )
  return { secret, csrfToken }
}

/** The identity behind a session cookie, if it is live; use keeps it alive (idle timeout). */
export async function resolveCookieSession(
  db: Sql,
  secret: string,
  settings: SessionSettings,
): Promise<{ identity: Identity; csrfHash: string } | undefined> {
  // One statement: check and touch. last_seen_at is only written once a minute, not on every request.
  const [row] = await db.query<SessionIdentityRow & { csrf_hash: string }>(
    `with live as (
       select s.id, s.csrf_hash, s.user_id from sessions s
        where s.secret_hash = $1 and s.kind = 'cookie' and s.revoked_at is null and s.expires_at > now()
          and s.last_seen_at > now() - make_interval(secs => $2)),
     touched as (
       update sessions set last_seen_at = now() where id in (select id from live) and last_seen_at < now() - interval '60 seconds')
     select live.id as session_id, live.csrf_hash, u.id as user_id, u.tenant_id, u.roles
       from live join users u on u.id = live.user_id`,
    [hashSecret(secret), settings.cookieIdleSeconds],
  )
  return row && { identity: toIdentity(row), csrfHash: row.csrf_hash }
}

/** Ends sign-ins: one session, or every session of a user but `except`. */
export async function revokeSessions(
  tx: Sql,
  which: { sessionId: string } | { userId: string; except?: string },
): Promise<void> {
  if ('sessionId' in which) {
    await tx.query('update sessions set revoked_at = now() where id = $1 and revoked_at is null', [which.sessionId])
  } else {
    await tx.query(
      'update sessions set revoked_at = now() where user_id = $1 and revoked_at is null and id is distinct from $2',
      [which.userId, which.except ?? null],
    )
  }
}
