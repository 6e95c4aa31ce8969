// Shared by the identity security suites: a real node (gateway with every service in-process,
// embedded PGlite in memory) driven over real HTTP with fetch, plus ways to sign up, sign in and
// forge access tokens with the node's own (or an attacker's) keys.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { SignJWT, importJWK, type JWK } from 'jose'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { topology } from '../../src/runtime/topology.ts'
import { rotateKey } from '../../src/services/identity/keys.ts'
import type { ServiceContext } from '../../src/kit/service.ts'
import type { identityContract } from '../../src/services/identity/contract.ts'

import { testEnv, type Tokens } from '../auth.ts'

import { call, COOKIE_NAME, type Reply, type Problem } from '../helpers/http.ts'
import { register, uniqueEmail, PASSWORD, type User } from '../helpers/users.ts'

export { ADMIN_EMAIL, ADMIN_PASSWORD, type Tokens } from '../auth.ts'
export {
  call,
  assertProblem,
  assertFieldError,
  COOKIE_NAME,
  type Reply,
  type CallOptions,
  type Problem,
} from '../helpers/http.ts'
export { register, uniqueEmail, PASSWORD, type User } from '../helpers/users.ts'
export { eventually, sleep } from '../helpers/wait.ts'

export const ISSUER = 'mosaic'
export const AUDIENCE = 'mosaic-api'

export interface TestNode {
  readonly node: MosaicNode
  readonly url: string
  stop(): Promise<void>
}

/** A gateway node with every service inside, on a fresh in-memory database. */
export async function startIdentityNode(env: NodeJS.ProcessEnv = {}): Promise<TestNode> {
  const node = await startNode({
    role: 'gateway',
    services: topology.map((s) => s.definition),
    port: 0,
    env: testEnv(env),
  })
  return { node, url: node.url, stop: () => node.stop() }
}

export async function login(
  node: TestNode,
  email: string,
  password = PASSWORD,
  extra: { totp?: string; tenant?: string; headers?: Record<string, string> } = {},
): Promise<Tokens> {
  const reply = await tryLogin(node, email, password, extra)
  assert.equal(reply.status, 200, reply.text)
  return reply.body as Tokens
}

export function tryLogin(
  node: TestNode,
  email: string,
  password: string,
  extra: { totp?: string; tenant?: string; headers?: Record<string, string> } = {},
  query = '',
): Promise<Reply<Tokens | Problem>> {
  const { headers, ...fields } = extra
  return call<Tokens | Problem>(node, 'POST', `/api/users/login${query}`, {
    json: { email, password, ...fields },
    ...(headers ? { headers } : {}),
  })
}

export interface CookieSession {
  /** The session cookie's value. */
  secret: string
  csrfToken: string
  setCookie: string
}

/** Signs in with ?session=cookie and returns the cookie and the CSRF token. */
export async function cookieLogin(node: TestNode, email: string, password = PASSWORD): Promise<CookieSession> {
  const reply = await tryLogin(node, email, password, {}, '?session=cookie')
  assert.equal(reply.status, 200, reply.text)
  const setCookie = reply.headers.get('set-cookie') ?? ''
  const match = new RegExp(`^${COOKIE_NAME.replace(/[-]/g, '\\-')}=([^;]*)`).exec(setCookie)
  assert.ok(match, `no session cookie in ${setCookie}`)
  return { secret: match[1]!, csrfToken: (reply.body as unknown as { csrfToken: string }).csrfToken, setCookie }
}

/** Registers and signs in a user; with `roles`, the roles are set in the database first (as an admin would). */
export async function signUp(
  node: TestNode,
  options: { roles?: string[]; tenant?: string; email?: string } = {},
): Promise<{ user: User; tokens: Tokens; email: string }> {
  const user = await register(node, {
    ...(options.tenant ? { tenant: options.tenant } : {}),
    ...(options.email ? { email: options.email } : {}),
  })
  if (options.roles) await setRolesInDb(node, user.id, options.roles)
  const tokens = await login(node, user.email, PASSWORD, options.tenant ? { tenant: options.tenant } : {})
  return { user: { ...user, roles: options.roles ?? user.roles }, tokens, email: user.email }
}

/** Statements against the identity service's own schema. */
export function identityDb(node: TestNode) {
  return node.node.engine.forSchema('identity')
}

export async function setRolesInDb(node: TestNode, userId: string, roles: string[]): Promise<void> {
  await identityDb(node).query('update users set roles = $2 where id = $1', [userId, roles])
}

/**
 * Users that share one registered user's password hash: cheap to make (no argon2 run), and
 * signing in as them costs a real verification like anyone else.
 */
export async function cloneUsers(node: TestNode, template: User, count: number, prefix = 'clone'): Promise<string[]> {
  const emails = Array.from({ length: count }, () => uniqueEmail(prefix))
  await identityDb(node).query(
    `insert into users (tenant_id, email, name, password_hash, roles)
     select tenant_id, e, name, password_hash, roles from users, unnest($2::text[]) as e where id = $1`,
    [template.id, emails],
  )
  return emails
}

/** The users row as stored, for before/after comparisons. */
export async function userRow(node: TestNode, id: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await identityDb(node).query('select * from users where id = $1', [id])
  return row
}

export function identityContext(node: TestNode): ServiceContext<typeof identityContract> {
  return node.node.services.get('identity')!.context as ServiceContext<typeof identityContract>
}

/** `mosaic keys rotate`: a new active key; the old one is retired (still published for the retention). */
export async function rotateSigningKey(node: TestNode): Promise<string> {
  const kid = await identityContext(node).db.transaction((tx) => rotateKey(tx, { force: true }))
  assert.ok(kid)
  return kid
}

interface KeyRow {
  kid: string
  private_jwk: JWK
  public_jwk: JWK
}

export async function activeKey(node: TestNode): Promise<KeyRow> {
  const [row] = await identityDb(node).query<KeyRow>(
    'select kid, private_jwk, public_jwk from signing_keys where retired_at is null order by created_at desc limit 1',
  )
  assert.ok(row, 'no active signing key')
  return row
}

export interface ForgeOptions {
  /** Claims on top of (or, as undefined, removing) the defaults. */
  claims?: Record<string, unknown>
  /** Protected header on top of the defaults ({ alg: 'EdDSA', kid, typ: 'at+jwt' }). */
  header?: Record<string, unknown>
  /** Sign with this private JWK instead of the node's active key. */
  key?: JWK
  kid?: string
}

const now = (): number => Math.floor(Date.now() / 1000)

/** An access token signed with the node's active key (or `key`): exactly what the identity service issues, unless told otherwise. */
export async function forgeToken(
  node: TestNode,
  subject: { userId: string; tenantId?: string; roles?: string[] },
  options: ForgeOptions = {},
): Promise<string> {
  const active = options.key ? undefined : await activeKey(node)
  const jwk = options.key ?? active!.private_jwk
  const kid = options.kid ?? active?.kid ?? jwk.kid ?? randomUUID()
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: subject.userId,
    tenant: subject.tenantId ?? 'default',
    roles: subject.roles ?? ['customer'],
    iat: now(),
    exp: now() + 300,
    ...options.claims,
  }
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k]
  const header = { alg: 'EdDSA', kid, typ: 'at+jwt', ...options.header }
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(await importJWK(jwk, 'EdDSA'))
}

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
export const decodePart = (part: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>

/** Every key anywhere in a JSON value, nested ones included. */
export function allKeys(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) allKeys(item, into)
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      into.push(k)
      allKeys(v, into)
    }
  }
  return into
}

/** No user JSON ever carries a password, a hash or a TOTP secret. */
export function assertNoSecrets(value: unknown, where = ''): void {
  const leaked = allKeys(value).filter((k) => /hash|password|secret|totp/i.test(k))
  assert.deepEqual(leaked, [], `${where} exposes ${leaked.join(', ')}`)
  assert.doesNotMatch(JSON.stringify(value ?? null), /\$argon2/, `${where} contains an argon2 hash`)
}
