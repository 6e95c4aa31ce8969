// Users: registration, profile, roles, and the rows behind them. Every query is scoped to the
// caller's tenant; an id from another tenant is simply not found.
import { randomUUID } from 'node:crypto'
import type { Static } from 'typebox'
import { MosaicError, decodeCursor, page, type Sql, type ServiceTx } from '../../kit/index.ts'
import type { User, identityContract } from './contract.ts'

export type UserOut = Static<typeof User>
type Tx = ServiceTx<typeof identityContract>

export interface UserRow {
  id: string
  tenant_id: string
  email: string
  name: string
  password_hash: string
  roles: string[]
  totp_secret: string | null
  totp_pending: string | null
  totp_last_step: bigint | null
  created_at: Date
}

/** Emails compare case-insensitively and in one Unicode form: `Ann@Example.COM` is `ann@example.com`. */
export const normaliseEmail = (email: string): string => email.trim().normalize('NFC').toLowerCase()

export function toUser(row: UserRow): UserOut {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    email: row.email,
    name: row.name,
    roles: row.roles as UserOut['roles'],
    mfaEnabled: row.totp_secret !== null,
    createdAt: row.created_at.toISOString(),
  }
}

export async function findUser(
  db: Sql,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRow | undefined> {
  const [row] = await db.query<UserRow>(
    `select * from users where tenant_id = $1 and id = $2${options.forUpdate ? ' for update' : ''}`,
    [tenantId, id],
  )
  return row
}

export async function findUserByEmail(db: Sql, tenantId: string, email: string): Promise<UserRow | undefined> {
  const [row] = await db.query<UserRow>('select * from users where tenant_id = $1 and email = $2', [tenantId, email])
  return row
}

export async function userOrNotFound(
  db: Sql,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRow> {
  const row = await findUser(db, tenantId, id, options)
  if (!row) throw new MosaicError('not_found', { detail: `no user ${id}` })
  return row
}

type NewUser = { tenantId: string; email: string; name: string; passwordHash: string; roles?: string[] }

/** Inserts the user; undefined when the email is already registered in the tenant (the tenant must exist). */
export async function insertUser(tx: Tx, user: NewUser): Promise<UserOut | undefined> {
  const [row] = await tx.query<UserRow>(
    `insert into users (tenant_id, email, name, password_hash, roles) values ($1, $2, $3, $4, $5)
     on conflict (tenant_id, email) do nothing returning *`,
    [user.tenantId, user.email, user.name, user.passwordHash, user.roles ?? ['customer']],
  )
  if (!row) return undefined
  const out = toUser(row)
  await tx.publish(
    'user.registered',
    { userId: out.id, tenantId: out.tenantId, email: out.email, name: out.name },
    { subject: out.id },
  )
  return out
}

/**
 * Registration that tells nothing about who is registered (as sign-in tells nothing): a taken
 * email or an unknown tenant gets the same answer as a new account — a user of the same shape,
 * with a fresh id that belongs to no one and none of the existing account's data — and the owner
 * of a taken email is sent a mail saying so (user.registration_repeated).
 */
export async function registerCustomer(tx: Tx, user: NewUser): Promise<UserOut> {
  const [tenant] = await tx.query('select 1 from tenants where id = $1', [user.tenantId])
  const created = tenant ? await insertUser(tx, user) : undefined
  if (created) return created
  const owner = tenant ? await findUserByEmail(tx, user.tenantId, user.email) : undefined
  if (owner)
    await tx.publish(
      'user.registration_repeated',
      { userId: owner.id, tenantId: owner.tenant_id },
      { subject: owner.id },
    )
  return {
    id: randomUUID(),
    tenantId: user.tenantId,
    email: user.email,
    name: user.name,
    roles: ['customer'],
    mfaEnabled: false,
    createdAt: new Date().toISOString(),
  }
}

export async function listUsers(
  db: Sql,
  tenantId: string,
  limit: number,
  cursor?: string,
): Promise<{ items: UserOut[]; nextCursor: string | null }> {
  const after = cursor === undefined ? '' : String(decodeCursor(cursor, 1)[0])
  const rows = await db.query<UserRow>(
    'select * from users where tenant_id = $1 and email > $2 order by email limit $3',
    [tenantId, after, limit + 1],
  )
  const result = page(rows, limit, (r) => [r.email])
  return { items: result.items.map(toUser), nextCursor: result.nextCursor }
}

export async function setRoles(tx: Tx, target: UserRow, roles: string[], changedBy: string): Promise<UserOut> {
  const [row] = await tx.query<UserRow>('update users set roles = $2, updated_at = now() where id = $1 returning *', [
    target.id,
    roles,
  ])
  const out = toUser(row!)
  await tx.publish(
    'user.roles_changed',
    {
      userId: out.id,
      tenantId: out.tenantId,
      roles: out.roles,
      previous: target.roles as UserOut['roles'],
      changedBy,
    },
    { subject: out.id },
  )
  return out
}
