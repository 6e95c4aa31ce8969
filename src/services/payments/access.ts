// Who sees what, asked of the Cedar policies (policies/payments.cedar), never by role names here.
import { MosaicError, requireIdentity, type RouteContext, type Identity } from '../../kit/index.ts'

type Owned = { readonly id: string; readonly tenantId: string; readonly ownerId: string }

/** The identity when it may do `action` on the object; otherwise 404, so ids of others' objects reveal nothing. */
export function mayAccess(
  ctx: RouteContext,
  action: string,
  type: 'Payment' | 'Invoice' | 'Subscription',
  object: Owned | undefined,
): Identity {
  const identity = requireIdentity(ctx)
  if (!object || !ctx.authorize(identity, action, { type, ...object }))
    throw new MosaicError('not_found', { detail: `no ${type.toLowerCase()} with that id` })
  return identity
}

/**
 * Whose rows a list shows: every row of the tenant when the caller may read a row of the tenant
 * that is not theirs (staff), else only their own. Listing itself is asked about the tenant.
 */
export function listScope(
  ctx: RouteContext,
  listAction: string,
  readAction: string,
  type: 'Payment' | 'Invoice',
): { tenantId: string; userId: string | null } {
  const identity = requireIdentity(ctx)
  if (!ctx.authorize(identity, listAction, { type: 'Tenant', id: identity.tenantId }))
    throw new MosaicError('forbidden')
  const others = ctx.authorize(identity, readAction, {
    type,
    id: '*',
    tenantId: identity.tenantId,
    ownerId: `${identity.userId}:other`,
  })
  return { tenantId: identity.tenantId, userId: others ? null : identity.userId }
}
