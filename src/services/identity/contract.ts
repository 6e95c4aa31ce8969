// The identity service's contract: users, sign-in (bearer tokens or a browser session), TOTP,
// the public signing keys, and the actions the gateway uses to verify callers.
import { Type, Limit, Cursor, Page, Env, defineContract, defineErrors } from '../../kit/index.ts'
import { RECOVERY_CODES, RECOVERY_CODE_PATTERN } from './recovery.ts'

export const identityErrors = defineErrors({
  // One answer for an unknown email, a wrong password and an unknown tenant: nothing to enumerate.
  invalid_credentials: { status: 401, title: 'Invalid email or password', retryable: false },
  mfa_required: { status: 401, title: 'A one-time code is required', retryable: false },
  invalid_code: { status: 401, title: 'Invalid one-time code', retryable: false },
  invalid_token: { status: 401, title: 'Invalid or expired token', retryable: false },
  too_many_attempts: { status: 429, title: 'Too many failed sign-in attempts', retryable: true },
  weak_password: { status: 422, title: 'Password refused', retryable: false },
})

export const Role = Type.Union([Type.Literal('customer'), Type.Literal('staff'), Type.Literal('admin')])
const UserId = Type.String({ format: 'uuid' })
const TenantId = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
  description: 'Tenant slug; "default" unless stated',
})
const Email = Type.String({ format: 'email', maxLength: 254 })
const Password = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: '8 to 128 characters, not a common password',
})
const Name = Type.String({ minLength: 1, maxLength: 200 })
const TotpCode = Type.String({ pattern: '^[0-9]{6}$' })
const RecoveryCode = Type.String({
  pattern: RECOVERY_CODE_PATTERN,
  description: 'One of the recovery codes issued with TOTP; each works once',
})
const CurrentPassword = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: 'Your current password (asked again: an access token alone is not enough)',
})

export const User = Type.Object({
  id: UserId,
  tenantId: TenantId,
  email: Type.String(),
  name: Name,
  roles: Type.Array(Role),
  mfaEnabled: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
})

export const Tokens = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
})

const CookieSession = Type.Object({
  csrfToken: Type.String({ description: 'Send as X-CSRF-Token on unsafe requests' }),
  expiresIn: Type.Integer({ description: 'Idle seconds before the session ends' }),
})

/** What the gateway passes inward about a verified caller. */
export const Identity = Type.Object({
  userId: Type.String(),
  tenantId: Type.String(),
  roles: Type.Array(Type.String()),
  sessionId: Type.Optional(Type.String()),
})

const Jwk = Type.Object({
  kty: Type.String(),
  kid: Type.String(),
  alg: Type.String(),
  use: Type.String(),
  crv: Type.String(),
  x: Type.String(),
})

const IdParams = Type.Object({ id: UserId })

/**
 * Settings the identity service (which issues tokens and sessions) and the gateway (which
 * verifies them) must agree on; both read them from the same environment variables.
 */
export const AuthSettings = Type.Object({
  AUTH_ISSUER: Type.String({
    minLength: 1,
    default: 'mosaic',
    description: '`iss` of access tokens (gateway and identity must agree)',
  }),
  AUTH_AUDIENCE: Type.String({
    minLength: 1,
    default: 'mosaic-api',
    description: '`aud` of access tokens (gateway and identity must agree)',
  }),
  AUTH_ACCESS_TOKEN_TTL: Type.Integer({
    minimum: 30,
    maximum: 86_400,
    default: 900,
    description: 'Access token lifetime, seconds',
  }),
  AUTH_CLOCK_SKEW_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 300,
    default: 30,
    description: 'Clock difference tolerated on exp/iat',
  }),
  AUTH_COOKIE_SECURE: Env.flag(
    true,
    'Browser session cookies are `Secure` (`__Host-mosaic-session`); `false` only while HOST is a loopback address',
  ),
})

/** `__Host-` binds the cookie to this host and path /, and browsers only accept it when Secure. */
export const sessionCookieName = (secure: boolean): string => (secure ? '__Host-mosaic-session' : 'mosaic-session')

export const identityContract = defineContract({
  name: 'identity',
  version: '1.0.0',
  routes: {
    register: {
      method: 'POST',
      path: '/api/users',
      status: 201,
      summary:
        'Register a customer account. The answer is the same whether or not the email is already registered (its owner is sent a mail instead) or the tenant exists: sign in to use the account',
      body: Type.Object(
        { email: Email, password: Password, name: Name, tenant: Type.Optional(TenantId) },
        { additionalProperties: false },
      ),
      response: User,
      errors: ['weak_password', 'validation_failed', 'too_many_requests'],
    },
    login: {
      method: 'POST',
      path: '/api/users/login',
      summary: 'Sign in: bearer tokens, or with ?session=cookie a browser session',
      query: Type.Object({ session: Type.Optional(Type.Literal('cookie')) }),
      body: Type.Object(
        {
          email: Email,
          password: Password,
          totp: Type.Optional(TotpCode),
          recoveryCode: Type.Optional(RecoveryCode),
          tenant: Type.Optional(TenantId),
        },
        { additionalProperties: false },
      ),
      response: Type.Union([Tokens, CookieSession]),
      errors: ['invalid_credentials', 'mfa_required', 'invalid_code', 'too_many_attempts'],
    },
    refresh: {
      method: 'POST',
      path: '/api/users/refresh',
      summary: 'Exchange a refresh token for new tokens (the old one stops working)',
      body: Type.Object(
        { refreshToken: Type.String({ minLength: 1, maxLength: 200 }) },
        { additionalProperties: false },
      ),
      response: Tokens,
      errors: ['invalid_token'],
    },
    logout: {
      method: 'POST',
      path: '/api/users/logout',
      summary: 'End the current session and its refresh tokens',
      status: 204,
      response: Type.Null(),
    },
    me: { method: 'GET', path: '/api/users/me', summary: 'The signed-in user', response: User },
    updateMe: {
      method: 'PATCH',
      path: '/api/users/me',
      summary: 'Change your name or password (a new password ends your other sessions)',
      body: Type.Object(
        {
          name: Type.Optional(Name),
          password: Type.Optional(Password),
          currentPassword: Type.Optional(CurrentPassword),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
      response: User,
      errors: ['validation_failed', 'weak_password', 'too_many_attempts'],
    },
    listUsers: {
      method: 'GET',
      path: '/api/users',
      summary: 'Users of your tenant (admin)',
      query: Type.Object({
        limit: Limit(),
        cursor: Type.Optional(Cursor),
      }),
      response: Page(User),
    },
    getUser: {
      method: 'GET',
      path: '/api/users/:id',
      summary: 'A user (yourself, or any user of your tenant for admins)',
      params: IdParams,
      response: User,
    },
    setRoles: {
      method: 'PATCH',
      path: '/api/users/:id/roles',
      summary: "Replace a user's roles (admin)",
      params: IdParams,
      body: Type.Object(
        { roles: Type.Array(Role, { minItems: 1, maxItems: 3, uniqueItems: true }) },
        { additionalProperties: false },
      ),
      response: User,
    },
    enrolTotp: {
      method: 'POST',
      path: '/api/users/me/mfa/totp',
      summary:
        'Start TOTP enrolment (with your current password): a secret and an otpauth:// URI for an authenticator app',
      body: Type.Object({ currentPassword: CurrentPassword }, { additionalProperties: false }),
      response: Type.Object({ secret: Type.String(), uri: Type.String() }),
      errors: ['validation_failed', 'too_many_attempts', 'conflict'],
    },
    verifyTotp: {
      method: 'POST',
      path: '/api/users/me/mfa/totp/verify',
      summary: `Confirm enrolment with a current code; sign-in then requires codes. The answer carries ${RECOVERY_CODES} recovery codes, shown this once`,
      body: Type.Object({ code: TotpCode }, { additionalProperties: false }),
      response: Type.Object({
        ...User.properties,
        recoveryCodes: Type.Array(Type.String(), {
          description: 'Each usable once in place of a one-time code; store them safely',
        }),
      }),
      errors: ['invalid_code', 'conflict'],
    },
    disableMfa: {
      method: 'POST',
      path: '/api/users/me/mfa/disable',
      summary: 'Switch TOTP off, with your current password or a recovery code (its recovery codes go too)',
      body: Type.Object(
        { currentPassword: Type.Optional(CurrentPassword), recoveryCode: Type.Optional(RecoveryCode) },
        {
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          description: 'Either currentPassword or recoveryCode',
        },
      ),
      response: User,
      errors: ['validation_failed', 'invalid_code', 'too_many_attempts', 'conflict'],
    },
  },
  actions: {
    jwks: {
      summary: 'The public keys access tokens are signed with, current and recently retired',
      input: Type.Object({}),
      output: Type.Object({ keys: Type.Array(Jwk) }),
      idempotent: true,
    },
    userExists: {
      summary: 'Whether a user of this tenant has this id (orders placed by staff for a customer)',
      input: Type.Object({ tenantId: TenantId, userId: Type.String({ maxLength: 100 }) }),
      output: Type.Object({ exists: Type.Boolean() }),
      idempotent: true,
    },
    resolveSession: {
      summary: 'The identity behind a browser session cookie, and the hash of its CSRF token; null when not valid',
      input: Type.Object({ secret: Type.String({ maxLength: 200 }) }),
      output: Type.Object({
        session: Type.Union([Type.Object({ identity: Identity, csrfHash: Type.String() }), Type.Null()]),
      }),
      idempotent: true,
    },
  },
  events: {
    'user.registered': Type.Object({ userId: UserId, tenantId: TenantId, email: Type.String(), name: Name }),
    /** `userId` null: no account has the email tried (counted all the same: guessing at unknown emails is an attack too). */
    'user.login_failed': Type.Object({
      userId: Type.Union([UserId, Type.Null()]),
      tenantId: TenantId,
      reason: Type.String(),
    }),
    'user.locked': Type.Object({ userId: UserId, tenantId: TenantId, until: Type.String({ format: 'date-time' }) }),
    /** Someone tried to register an email that already has an account: its owner is told, the caller is not. */
    'user.registration_repeated': Type.Object({ userId: UserId, tenantId: TenantId }),
    /** A recovery code was used (to sign in or to switch MFA off): the owner is told. */
    'user.recovery_code_used': Type.Object({
      userId: UserId,
      tenantId: TenantId,
      remaining: Type.Integer({ minimum: 0 }),
    }),
    'user.mfa_disabled': Type.Object({ userId: UserId, tenantId: TenantId }),
    'user.roles_changed': Type.Object({
      userId: UserId,
      tenantId: TenantId,
      roles: Type.Array(Role),
      previous: Type.Array(Role),
      changedBy: Type.String(),
    }),
  },
})
