// What the event handlers do: remember the recipient (user.registered) and record one
// notification per event and kind, in the inbox transaction. Sending is the sender's business.
import { randomUUID } from 'node:crypto'
import type { CloudEvent, ServiceTx, Static } from '../../kit/index.ts'
import type { Kind } from './contract.ts'
import type { Registered } from './templates.ts'

export type NotificationKind = Static<typeof Kind>

/** Kinds a user can turn off (security notices cannot be; welcome mails precede any choice). */
export const optional = ['receipt', 'cancellation', 'refund'] as const

export interface NewNotification {
  readonly kind: NotificationKind
  readonly userId: string
  readonly tenantId: string
  readonly orderId?: string
  /** Wait this long before the first attempt (refund notices wait for a cancellation notice). */
  readonly delayMs?: number
}

export async function rememberRecipient(tx: ServiceTx, user: Registered): Promise<void> {
  await tx.query(
    `insert into recipients (user_id, tenant_id, email, name) values ($1, $2, $3, $4)
     on conflict (user_id) do update set tenant_id = excluded.tenant_id, email = excluded.email, name = excluded.name, updated_at = now()`,
    [user.userId, user.tenantId, user.email, user.name],
  )
}

/**
 * Records the notification (skipped if the user turned its kind off; security notices cannot be
 * turned off); a second call for the same event and kind does nothing. One statement: the
 * preference is looked up inside the insert.
 */
export async function recordNotification(
  tx: ServiceTx,
  event: CloudEvent,
  domain: string,
  n: NewNotification,
): Promise<void> {
  const id = randomUUID()
  await tx.query(
    `insert into notifications (id, tenant_id, user_id, kind, event_id, event_type, order_id, data, status, next_attempt_at, last_error, message_id)
     select $1, $2, $3, $4, $5, $6, $7, $8, s.status, case when s.status = 'queued' then now() + make_interval(secs => $9) end,
       case when s.status = 'skipped' then 'turned off in the recipient''s preferences' end, $10
     from (select case when $4 <> 'security' and exists (
       select 1 from preferences p where p.user_id = $3 and p.tenant_id = $2 and $4 = any(p.disabled)
     ) then 'skipped' else 'queued' end as status) s
     on conflict (event_id, kind) do nothing`,
    [
      id,
      n.tenantId,
      n.userId,
      n.kind,
      event.id,
      event.type,
      n.orderId ?? null,
      event.data,
      (n.delayMs ?? 0) / 1000,
      `<${id}@${domain}>`,
    ],
  )
}
