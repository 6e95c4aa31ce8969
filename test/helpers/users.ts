// Test accounts: registered over HTTP (POST /api/users) and signed in, as a customer would.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { login, type Tokens } from '../auth.ts'
import { call, type Base } from './http.ts'

/** Good enough for the password policy, and the same for every test account (one less thing to pass around). */
export const PASSWORD = 'Tr0ub4dor&3-not-common'

/** A unique address, so test data never collides. */
export const uniqueEmail = (prefix = 'user'): string => `${prefix}-${randomUUID().slice(0, 8)}@example.test`

export interface User {
  id: string
  tenantId: string
  email: string
  name: string
  roles: string[]
  mfaEnabled: boolean
  createdAt: string
}

export interface Registration {
  email?: string
  password?: string
  name?: string
  tenant?: string
}

/** Registers an account (201 asserted) and returns it with its password. */
export async function register(base: Base, fields: Registration = {}): Promise<User & { password: string }> {
  const password = fields.password ?? PASSWORD
  const reply = await call<User>(base, 'POST', '/api/users', {
    json: {
      email: fields.email ?? uniqueEmail(),
      password,
      name: fields.name ?? 'Test User',
      ...(fields.tenant ? { tenant: fields.tenant } : {}),
    },
  })
  assert.equal(reply.status, 201, reply.text)
  return { ...reply.body, password }
}

/** A new customer, registered and signed in: their access token, id and account. */
export async function customer(
  base: Base,
  fields: Registration = {},
): Promise<{ token: string; userId: string; user: User; tokens: Tokens }> {
  const user = await register(base, fields)
  const tokens = await login(typeof base === 'string' ? base : base.url, user.email, user.password)
  return { token: tokens.accessToken, userId: user.id, user, tokens }
}
