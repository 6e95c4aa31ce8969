// Users: registration, profile, roles, and the rows behind them. Every query is scoped to the
// caller's tenant; an id from another tenant is simply not found.
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

export async function findUser(db: Sql, tenantId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<UserRow | undefined> {
  const [row] = await db.query<UserRow>(`select * from users where tenant_id = $1 and id = $2${options.forUpdate ? ' for update' : ''}`, [tenantId, id])
  return row
}

export async function findUserByEmail(db: Sql, tenantId: string, email: string): Promise<UserRow | undefined> {
  const [row] = await db.query<UserRow>('select * from users where tenant_id = $1 and email = $2', [tenantId, email])
  return row
}

export async function userOrNotFound(db: Sql, tenantId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<UserRow> {
  const row = await findUser(db, tenantId, id, options)
  if (!row) throw new MosaicError('not_found', { detail: `no user ${id}` })
  return row
}

export async function insertUser(tx: Tx, user: { tenantId: string, email: string, name: string, passwordHash: string, roles?: string[] }): Promise<UserOut> {
  const [tenant] = await tx.query('select 1 from tenants where id = $1', [user.tenantId])
  if (!tenant) throw new MosaicError('validation_failed', { issues: [{ path: '/tenant', code: 'tenant', message: 'no such tenant' }] })
  const [row] = await tx.query<UserRow>(
    `insert into users (tenant_id, email, name, password_hash, roles) values ($1, $2, $3, $4, $5)
     on conflict (tenant_id, email) do nothing returning *`,
    [user.tenantId, user.email, user.name, user.passwordHash, user.roles ?? ['customer']])
  if (!row) throw new MosaicError('email_taken', { detail: 'an account with this email already exists' })
  const out = toUser(row)
  await tx.publish('user.registered', { userId: out.id, tenantId: out.tenantId, email: out.email, name: out.name }, { subject: out.id })
  return out
}

export async function listUsers(db: Sql, tenantId: string, limit: number, cursor?: string): Promise<{ items: UserOut[], nextCursor: string | null }> {
  const after = cursor === undefined ? '' : String(decodeCursor(cursor, 1)[0])
  const rows = await db.query<UserRow>('select * from users where tenant_id = $1 and email > $2 order by email limit $3', [tenantId, after, limit + 1])
  const result = page(rows, limit, (r) => [r.email])
  return { items: result.items.map(toUser), nextCursor: result.nextCursor }
}

export async function setRoles(tx: Tx, target: UserRow, roles: string[], changedBy: string): Promise<UserOut> {
  const [row] = await tx.query<UserRow>('update users set roles = $2, updated_at = now() where id = $1 returning *', [target.id, roles])
  const out = toUser(row!)
  await tx.publish('user.roles_changed', {
    userId: out.id, tenantId: out.tenantId, roles: out.roles, previous: target.roles as UserOut['roles'], changedBy,
  }, { subject: out.id })
  return out
}
