// The first administrator. It comes from configuration (AUTH_ADMIN_EMAIL and AUTH_ADMIN_PASSWORD)
// or from `mosaic users create-admin`, never from a default password.
import type { ServiceDb } from '../../kit/index.ts'
import { MosaicError } from '../../kit/index.ts'
import type { identityContract } from './contract.ts'
import type { PasswordHasher } from './passwords.ts'
import { passwordProblem } from './passwords.ts'
import { normaliseEmail, findUserByEmail, insertUser, type UserOut } from './users.ts'

export interface AdminInput {
  readonly email: string
  readonly password: string
  readonly name?: string
  readonly tenant?: string
}

/** Creates an admin (and the tenant, if new); undefined when the email is already registered there. */
export async function createAdmin(
  db: ServiceDb<typeof identityContract>,
  hasher: PasswordHasher,
  input: AdminInput,
): Promise<UserOut | undefined> {
  const email = normaliseEmail(input.email)
  const tenant = input.tenant ?? 'default'
  if (await findUserByEmail(db, tenant, email)) return undefined
  const problem = passwordProblem(input.password, { email })
  if (problem) throw new MosaicError('weak_password', { detail: `admin password ${problem}` })
  const passwordHash = await hasher.hash(input.password)
  // undefined also if the same email was registered since the check above.
  return db.transaction(async (tx) => {
    await tx.query('insert into tenants (id, name) values ($1, $1) on conflict do nothing', [tenant])
    return insertUser(tx, {
      tenantId: tenant,
      email,
      name: input.name ?? 'Administrator',
      passwordHash,
      roles: ['admin'],
    })
  })
}
