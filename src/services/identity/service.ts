// The identity service: accounts, sign-in, sessions and tokens, TOTP, and the signing keys the
// gateway verifies access tokens with.
import { stringifySetCookie } from 'cookie'
import type { Static } from 'typebox'
import { Type, Env, MosaicError, defineService, requireIdentity } from '../../kit/index.ts'
import { identityContract, AuthSettings, sessionCookieName } from './contract.ts'
import { createPasswordHasher, passwordProblem, type PasswordHasher } from './passwords.ts'
import { newTotpSecret, totpUri, matchTotp } from './totp.ts'
import { rotateKey, publishedKeys, signAccessToken, type TokenSettings } from './keys.ts'
import {
  startTokenSession,
  startCookieSession,
  rotateRefreshToken,
  resolveCookieSession,
  revokeSessions,
  type SessionSettings,
} from './sessions.ts'
import { authenticate, lastStep } from './login.ts'
import { countRegistration, type ThrottlePolicy } from './throttle.ts'
import { confirmPassword, refuseWhileLocked, countFailure, type ReauthDeps } from './reauth.ts'
import { issueRecoveryCodes, spendRecoveryCode } from './recovery.ts'
import {
  normaliseEmail,
  toUser,
  registerCustomer,
  findUser,
  userOrNotFound,
  listUsers,
  setRoles,
  type UserRow,
} from './users.ts'
import { createAdmin } from './admin.ts'

const Config = Type.Object({
  ...AuthSettings.properties,
  AUTH_REFRESH_TTL: Type.Integer({
    minimum: 60,
    default: 1_209_600,
    description: 'Lifetime of a bearer sign-in (refresh token family), seconds',
  }),
  AUTH_SESSION_TTL: Type.Integer({ minimum: 60, default: 3600, description: 'Browser session idle timeout, seconds' }),
  AUTH_SESSION_ABSOLUTE_TTL: Type.Integer({
    minimum: 60,
    default: 43_200,
    description: 'Browser session absolute lifetime, seconds',
  }),
  AUTH_CSRF_TOKEN_LENGTH: Type.Integer({
    minimum: 16,
    maximum: 128,
    default: 32,
    description: 'CSRF token size, bytes',
  }),
  AUTH_LOCKOUT_THRESHOLD: Env.positive(5, 'Failed sign-ins of one account (tenant + email) before it is locked out'),
  AUTH_IP_LOCKOUT_THRESHOLD: Env.positive(50, 'Failed sign-ins from one client address before it is locked out'),
  AUTH_LOCKOUT_BASE_SECONDS: Env.positive(2, 'First lockout, seconds; each further failure doubles it'),
  AUTH_LOCKOUT_MAX_SECONDS: Env.positive(3600, 'Longest lockout, seconds'),
  AUTH_REGISTER_LIMIT: Env.positive(
    20,
    'Registrations from one client address per AUTH_REGISTER_WINDOW_SECONDS; more get 429 with Retry-After',
  ),
  AUTH_REGISTER_WINDOW_SECONDS: Env.positive(
    600,
    'The window AUTH_REGISTER_LIMIT counts in, seconds from the first registration of an address',
  ),
  AUTH_KEY_ROTATION_DAYS: Type.Integer({
    minimum: 0,
    default: 30,
    description: 'Rotate the signing key when it is this old; 0: only by `mosaic keys rotate`',
  }),
  AUTH_HASH_CONCURRENCY: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 64,
      description:
        'Password hashes computed at once (default: cores − 1, at most libuv threads − 1); more wait in line',
    }),
  ),
  AUTH_TOTP_ISSUER: Type.String({ minLength: 1, default: 'Mosaic', description: 'Issuer shown in authenticator apps' }),
  AUTH_ADMIN_EMAIL: Type.Optional(
    Type.String({
      format: 'email',
      description: 'Create this administrator at start if the email is not registered yet (with AUTH_ADMIN_PASSWORD)',
    }),
  ),
  AUTH_ADMIN_PASSWORD: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Password of the administrator of AUTH_ADMIN_EMAIL (there is no default password)',
    }),
  ),
})
type Cfg = Static<typeof Config>

const tokenSettings = (c: Cfg): TokenSettings => ({
  issuer: c.AUTH_ISSUER,
  audience: c.AUTH_AUDIENCE,
  ttlSeconds: c.AUTH_ACCESS_TOKEN_TTL,
  retentionSeconds: c.AUTH_ACCESS_TOKEN_TTL + c.AUTH_CLOCK_SKEW_SECONDS,
})
const sessionSettings = (c: Cfg): SessionSettings => ({
  refreshTtlSeconds: c.AUTH_REFRESH_TTL,
  cookieIdleSeconds: c.AUTH_SESSION_TTL,
  cookieAbsoluteSeconds: c.AUTH_SESSION_ABSOLUTE_TTL,
  csrfBytes: c.AUTH_CSRF_TOKEN_LENGTH,
})
const throttlePolicy = (c: Cfg): ThrottlePolicy => ({
  accountThreshold: c.AUTH_LOCKOUT_THRESHOLD,
  ipThreshold: c.AUTH_IP_LOCKOUT_THRESHOLD,
  baseSeconds: c.AUTH_LOCKOUT_BASE_SECONDS,
  maxSeconds: c.AUTH_LOCKOUT_MAX_SECONDS,
})
const sessionCookie = (c: Cfg, value: string, maxAge: number): string =>
  stringifySetCookie({
    name: sessionCookieName(c.AUTH_COOKIE_SECURE),
    value,
    maxAge,
    path: '/',
    httpOnly: true,
    secure: c.AUTH_COOKIE_SECURE,
    sameSite: 'lax',
  })

/** What re-authentication needs of a route's context. */
type Ctx = { db: ReauthDeps['db']; config: Cfg; clientIp: string; state: { hasher: PasswordHasher } }
const reauthDeps = (ctx: Ctx): ReauthDeps => ({
  db: ctx.db,
  hasher: ctx.state.hasher,
  throttle: throttlePolicy(ctx.config),
  clientIp: ctx.clientIp,
})

/** What a running instance holds: its password hasher (a pool sized by AUTH_HASH_CONCURRENCY) and key-rotation timer. */
interface Runtime {
  readonly hasher: PasswordHasher
  readonly rotation?: NodeJS.Timeout
}

function checkPassword(password: string, email: string, field = '/password'): void {
  const problem = passwordProblem(password, { email })
  if (problem) throw new MosaicError('weak_password', { issues: [{ path: field, code: 'password', message: problem }] })
}

export default defineService(identityContract, {
  migrations: new URL('./migrations/', import.meta.url),
  config: Config,

  async start(ctx): Promise<Runtime> {
    const { config } = ctx
    const hasher = createPasswordHasher({ concurrency: config.AUTH_HASH_CONCURRENCY })
    const rotate = async (): Promise<void> => {
      const kid = await ctx.db.transaction((tx) =>
        rotateKey(tx, config.AUTH_KEY_ROTATION_DAYS > 0 ? { olderThanDays: config.AUTH_KEY_ROTATION_DAYS } : {}),
      )
      if (kid) ctx.log.info({ kid }, 'new access-token signing key')
    }
    await rotate()
    if (config.AUTH_ADMIN_EMAIL && config.AUTH_ADMIN_PASSWORD) {
      const created = await createAdmin(ctx.db, hasher, {
        email: config.AUTH_ADMIN_EMAIL,
        password: config.AUTH_ADMIN_PASSWORD,
      })
      if (created) ctx.log.info({ email: created.email }, 'first admin created from AUTH_ADMIN_EMAIL')
    } else if ((await ctx.db.query("select 1 from users where 'admin' = any(roles) limit 1")).length === 0) {
      ctx.log.warn(
        'no administrator yet: set AUTH_ADMIN_EMAIL and AUTH_ADMIN_PASSWORD, or run `npx mosaic users create-admin --email E`',
      )
    }
    if (config.AUTH_KEY_ROTATION_DAYS === 0) return { hasher }
    return {
      hasher,
      rotation: setInterval(
        () => rotate().catch((err: unknown) => ctx.log.error({ err }, 'key rotation failed')),
        3_600_000,
      ).unref(),
    }
  },
  async stop(ctx) {
    clearInterval(ctx.state.rotation)
  },

  routes: {
    async register({ body }, ctx) {
      // Counted before anything else, so a refused attempt costs no password hash.
      const wait = await countRegistration(
        ctx.db,
        ctx.clientIp,
        ctx.config.AUTH_REGISTER_LIMIT,
        ctx.config.AUTH_REGISTER_WINDOW_SECONDS,
      )
      if (wait > 0)
        throw new MosaicError('too_many_requests', {
          detail: 'too many registrations from this address; try again later',
          retryAfter: wait,
        })
      const email = normaliseEmail(body.email)
      checkPassword(body.password, email)
      const passwordHash = await ctx.state.hasher.hash(body.password)
      const user = await ctx.db.transaction((tx) =>
        registerCustomer(tx, { tenantId: body.tenant ?? 'default', email, name: body.name, passwordHash }),
      )
      ctx.setHeader('location', `/api/users/${user.id}`)
      return user
    },

    login({ query, body }, ctx) {
      const attempt = {
        tenant: body.tenant ?? 'default',
        email: body.email,
        password: body.password,
        totp: body.totp,
        recoveryCode: body.recoveryCode,
        clientIp: ctx.clientIp,
      }
      const deps = { db: ctx.db, hasher: ctx.state.hasher, throttle: throttlePolicy(ctx.config), log: ctx.log }
      if (query.session === 'cookie') {
        return authenticate(attempt, deps, async (tx, identity) => {
          const { secret, csrfToken } = await startCookieSession(tx, identity.userId, sessionSettings(ctx.config))
          ctx.setHeader('set-cookie', sessionCookie(ctx.config, secret, ctx.config.AUTH_SESSION_ABSOLUTE_TTL))
          return { csrfToken, expiresIn: ctx.config.AUTH_SESSION_TTL }
        })
      }
      return authenticate(attempt, deps, async (tx, identity) => {
        const { sessionId, refreshToken } = await startTokenSession(tx, identity.userId, sessionSettings(ctx.config))
        const accessToken = await signAccessToken(tx, { ...identity, sessionId }, tokenSettings(ctx.config))
        return { accessToken, refreshToken, tokenType: 'Bearer' as const, expiresIn: ctx.config.AUTH_ACCESS_TOKEN_TTL }
      })
    },

    async refresh({ body }, ctx) {
      const outcome = await ctx.db.transaction(async (tx) => {
        const rotated = await rotateRefreshToken(tx, body.refreshToken)
        if (!rotated || rotated === 'reused') return rotated
        return { ...rotated, accessToken: await signAccessToken(tx, rotated.identity, tokenSettings(ctx.config)) }
      })
      if (!outcome || outcome === 'reused') {
        if (outcome === 'reused') ctx.log.warn('a rotated refresh token was presented again: its sign-in is revoked')
        throw new MosaicError('invalid_token')
      }
      return {
        accessToken: outcome.accessToken,
        refreshToken: outcome.refreshToken,
        tokenType: 'Bearer' as const,
        expiresIn: ctx.config.AUTH_ACCESS_TOKEN_TTL,
      }
    },

    async logout(_input, ctx) {
      const { sessionId } = requireIdentity(ctx)
      if (sessionId) await ctx.db.transaction((tx) => revokeSessions(tx, { sessionId }))
      ctx.setHeader('set-cookie', sessionCookie(ctx.config, '', 0))
      return null
    },

    async me(_input, ctx) {
      const identity = requireIdentity(ctx)
      return toUser(await userOrNotFound(ctx.db, identity.tenantId, identity.userId))
    },

    async updateMe({ body }, ctx) {
      const identity = requireIdentity(ctx)
      const current = await userOrNotFound(ctx.db, identity.tenantId, identity.userId)
      let passwordHash: string | undefined
      if (body.password !== undefined) {
        await confirmPassword(current, body.currentPassword, reauthDeps(ctx))
        checkPassword(body.password, current.email)
        passwordHash = await ctx.state.hasher.hash(body.password)
      }
      return ctx.db.transaction(async (tx) => {
        const [row] = await tx.query<UserRow>(
          'update users set name = coalesce($2, name), password_hash = coalesce($3, password_hash), updated_at = now() where id = $1 returning *',
          [current.id, body.name ?? null, passwordHash ?? null],
        )
        // A new password ends every other sign-in: whoever knew the old one is signed out.
        if (passwordHash) await revokeSessions(tx, { userId: current.id, except: identity.sessionId })
        return toUser(row!)
      })
    },

    async listUsers({ query }, ctx) {
      const identity = requireIdentity(ctx)
      if (!ctx.authorize(identity, 'users:list', { type: 'Tenant', id: identity.tenantId }))
        throw new MosaicError('forbidden')
      return listUsers(ctx.db, identity.tenantId, query.limit, query.cursor)
    },

    async getUser({ params }, ctx) {
      const identity = requireIdentity(ctx)
      const row = await userOrNotFound(ctx.db, identity.tenantId, params.id)
      // Someone else's account is reported as absent, not forbidden: ids are not confirmed to exist.
      if (!ctx.authorize(identity, 'users:read', { type: 'User', id: row.id, tenantId: row.tenant_id }))
        throw new MosaicError('not_found', { detail: `no user ${params.id}` })
      return toUser(row)
    },

    async setRoles({ params, body }, ctx) {
      const identity = requireIdentity(ctx)
      return ctx.db.transaction(async (tx) => {
        const row = await userOrNotFound(tx, identity.tenantId, params.id, { forUpdate: true })
        if (!ctx.authorize(identity, 'users:setRoles', { type: 'User', id: row.id, tenantId: row.tenant_id }))
          throw new MosaicError('not_found', { detail: `no user ${params.id}` })
        return setRoles(tx, row, body.roles, identity.userId)
      })
    },

    async enrolTotp({ body }, ctx) {
      const identity = requireIdentity(ctx)
      // A stolen access token alone must not bind the account to the thief's authenticator.
      await confirmPassword(
        await userOrNotFound(ctx.db, identity.tenantId, identity.userId),
        body.currentPassword,
        reauthDeps(ctx),
      )
      const secret = newTotpSecret()
      const [row] = await ctx.db.query<{ email: string }>(
        'update users set totp_pending = $3, updated_at = now() where tenant_id = $1 and id = $2 and totp_secret is null returning email',
        [identity.tenantId, identity.userId, secret],
      )
      if (!row) throw new MosaicError('conflict', { detail: 'TOTP is already enabled for this account' })
      return { secret, uri: totpUri(secret, row.email, ctx.config.AUTH_TOTP_ISSUER) }
    },

    async verifyTotp({ body }, ctx) {
      const identity = requireIdentity(ctx)
      return ctx.db.transaction(async (tx) => {
        const row = await userOrNotFound(tx, identity.tenantId, identity.userId, { forUpdate: true })
        if (!row.totp_pending)
          throw new MosaicError('conflict', {
            detail: 'no TOTP enrolment is waiting: POST /api/users/me/mfa/totp first',
          })
        const step = matchTotp(row.totp_pending, body.code, lastStep(row))
        if (step === undefined) throw new MosaicError('invalid_code')
        const [updated] = await tx.query<UserRow>(
          'update users set totp_secret = totp_pending, totp_pending = null, totp_last_step = $2, updated_at = now() where id = $1 returning *',
          [row.id, step],
        )
        return { ...toUser(updated!), recoveryCodes: await issueRecoveryCodes(tx, row.id) }
      })
    },

    async disableMfa({ body }, ctx) {
      const identity = requireIdentity(ctx)
      const user = await userOrNotFound(ctx.db, identity.tenantId, identity.userId)
      if (!user.totp_secret) throw new MosaicError('conflict', { detail: 'TOTP is not enabled for this account' })
      // A recovery code stands in for the password here (the authenticator and the password may both be lost); guesses are counted alike.
      if (body.recoveryCode === undefined) await confirmPassword(user, body.currentPassword, reauthDeps(ctx))
      else await refuseWhileLocked(user, reauthDeps(ctx))
      const outcome = await ctx.db.transaction(async (tx) => {
        const remaining =
          body.recoveryCode === undefined ? undefined : await spendRecoveryCode(tx, user.id, body.recoveryCode)
        if (body.recoveryCode !== undefined) {
          if (remaining === undefined) return undefined
          await tx.publish(
            'user.recovery_code_used',
            { userId: user.id, tenantId: user.tenant_id, remaining },
            { subject: user.id },
          )
        }
        await tx.query('delete from recovery_codes where user_id = $1', [user.id])
        const [row] = await tx.query<UserRow>(
          'update users set totp_secret = null, totp_pending = null, totp_last_step = null, updated_at = now() where id = $1 returning *',
          [user.id],
        )
        await tx.publish('user.mfa_disabled', { userId: user.id, tenantId: user.tenant_id }, { subject: user.id })
        return toUser(row!)
      })
      if (!outcome) {
        await countFailure(user, reauthDeps(ctx))
        throw new MosaicError('invalid_code', { detail: 'not an unused recovery code of this account' })
      }
      ctx.log.warn(
        { userId: user.id, with: body.recoveryCode === undefined ? 'password' : 'recovery code' },
        'MFA switched off',
      )
      return outcome
    },
  },

  actions: {
    jwks: async (_input, ctx) => ({
      keys: (await publishedKeys(ctx.db, tokenSettings(ctx.config).retentionSeconds)) as never,
    }),
    async userExists({ tenantId, userId }, ctx) {
      // Not a uuid: no such user (and no cast error from the database).
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(userId)) return { exists: false }
      return { exists: Boolean(await findUser(ctx.db, tenantId, userId)) }
    },
    async resolveSession({ secret }, ctx) {
      const session = await resolveCookieSession(ctx.db, secret, sessionSettings(ctx.config))
      return {
        session: session ? { ...session, identity: { ...session.identity, roles: [...session.identity.roles] } } : null,
      }
    },
  },
})
