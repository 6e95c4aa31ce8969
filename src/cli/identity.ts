// `mosaic users create-admin` and `mosaic keys rotate`: run against the identity service's
// database without starting the system. PGlite admits one process at a time: with the embedded
// database, stop `mosaic start` first; on PostgreSQL they run beside the running system.
import { createLogger } from '../kit/log.ts'
import { loadPolicies } from '../kit/authz.ts'
import { createCacheStore } from '../kit/cache/cache.ts'
import { MosaicError } from '../kit/errors.ts'
import type { ServiceContext } from '../kit/service.ts'
import { startService } from '../kit/internal/host.ts'
import { openServiceEngine } from '../runtime/node.ts'
import identity from '../services/identity/service.ts'
import type { identityContract } from '../services/identity/contract.ts'
import { createAdmin, type AdminInput } from '../services/identity/admin.ts'
import { createPasswordHasher } from '../services/identity/passwords.ts'
import { rotateKey } from '../services/identity/keys.ts'

type IdentityContext = ServiceContext<typeof identityContract>

async function withIdentity<T>(work: (ctx: IdentityContext) => Promise<T>): Promise<T> {
  const engine = await openServiceEngine('identity')
  const log = createLogger({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' })
  try {
    const instance = await startService(identity, {
      engine: () => engine,
      // No bus: events written now (user.registered) wait in the outbox for the running system's relay.
      log,
      env: process.env,
      transport: (service) => {
        throw new MosaicError('unavailable', { detail: `${service} is not reachable from the command line` })
      },
      callTimeoutMs: 5000,
      authorizer: loadPolicies(),
      // Identity caches nothing; were it to, its invalidations would have to reach the running system.
      cache: createCacheStore({ maxEntries: 0 }),
    })
    try {
      return await work(instance.context as IdentityContext)
    } finally {
      await instance.stop()
    }
  } finally {
    await engine.close()
  }
}

/** Creates an administrator; false when the email is already registered in that tenant. */
export function createAdminCommand(input: AdminInput): Promise<boolean> {
  return withIdentity(async (ctx) => Boolean(await createAdmin(ctx.db, createPasswordHasher(), input)))
}

/** Makes a new signing key active; the old one stays published until its tokens have expired. */
export function rotateKeysCommand(): Promise<string> {
  return withIdentity(async (ctx) => (await ctx.db.transaction((tx) => rotateKey(tx, { force: true })))!)
}
