// Reading notifications: a user's own, newest first, a page at a time.
import { MosaicError, newestFirst, type Sql, type Static } from '../../kit/index.ts'
import type { Notification } from './contract.ts'
import type { NotificationKind } from './record.ts'

type NotificationOut = Static<typeof Notification>

interface Row {
  id: string
  tenant_id: string
  user_id: string
  kind: NotificationKind
  status: NotificationOut['status']
  order_id: string | null
  email: string | null
  subject: string | null
  attempts: number
  last_error: string | null
  next_attempt_at: Date | null
  created_at: Date
  sent_at: Date | null
}

const columns =
  'id, tenant_id, user_id, kind, status, order_id, email, subject, attempts, last_error, next_attempt_at, created_at, sent_at'

function toNotification(row: Row): NotificationOut {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    orderId: row.order_id,
    email: row.email,
    subject: row.subject,
    attempts: row.attempts,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    sentAt: row.sent_at?.toISOString() ?? null,
  }
}

export function listMine(
  db: Sql,
  tenantId: string,
  userId: string,
  limit: number,
  cursor?: string,
): Promise<{ items: NotificationOut[]; nextCursor: string | null }> {
  // Microsecond cursors: two notifications of one event share a millisecond.
  return newestFirst(
    db,
    {
      table: 'notifications',
      columns,
      time: 'created_at',
      where: 'tenant_id = $1 and user_id = $2',
      params: [tenantId, userId],
      limit,
      cursor,
      uuidIds: true,
    },
    toNotification,
  )
}

/** The row (with its owner, for the policies) or 404. */
export async function findNotification(
  db: Sql,
  tenantId: string,
  id: string,
): Promise<{ out: NotificationOut; ownerId: string; tenantId: string }> {
  const [row] = await db.query<Row>(`select ${columns} from notifications where tenant_id = $1 and id = $2`, [
    tenantId,
    id,
  ])
  if (!row) throw notFound(id)
  return { out: toNotification(row), ownerId: row.user_id, tenantId: row.tenant_id }
}

export const notFound = (id: string): MosaicError => new MosaicError('not_found', { detail: `no notification ${id}` })
