// Signing in from tests: the first admin comes from AUTH_ADMIN_EMAIL and AUTH_ADMIN_PASSWORD, and
// a token is fetched once per node (a login hashes a password: tens of milliseconds each).
import assert from 'node:assert/strict'

export const ADMIN_EMAIL = 'admin@mosaic.test'
export const ADMIN_PASSWORD = 'correct horse battery staple'

/** The variables that create the first admin when the identity service starts. */
export const adminEnv = { AUTH_ADMIN_EMAIL: ADMIN_EMAIL, AUTH_ADMIN_PASSWORD: ADMIN_PASSWORD } as const

/**
 * The variables of an in-test node: quiet, in memory, no demo catalog, a fast event poll, the
 * first admin, and registration not limited per address (suites register many accounts from
 * 127.0.0.1; test/identity/register-limit.test.ts sets its own). `extra` adds or overrides.
 */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOST: '127.0.0.1',
    DATA_DIR: ':memory:',
    LOG_LEVEL: 'silent',
    CATALOG_SEED_DEMO: 'false',
    EVENT_POLL_MS: '50',
    AUTH_REGISTER_LIMIT: '1000000',
    ...adminEnv,
    ...extra,
  }
}

/** MOSAIC_INTERNAL_SECRET for tests that run the gateway and services in separate processes. */
export const INTERNAL_SECRET = 'test-internal-secret-0123456789-abcdefghij'

export interface Tokens {
  accessToken: string
  refreshToken: string
  tokenType: 'Bearer'
  expiresIn: number
}

/** Signs in over HTTP (POST /api/users/login) and returns the bearer tokens. */
export async function login(baseUrl: string, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<Tokens> {
  const response = await fetch(new URL('/api/users/login', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  const text = await response.text()
  assert.equal(response.status, 200, `login as ${email}: ${text}`)
  const tokens = JSON.parse(text) as Tokens
  assert.equal(tokens.tokenType, 'Bearer')
  return tokens
}

/** The Authorization header for an access token. */
export const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` })
