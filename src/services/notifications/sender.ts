// The sender: a kit worker that claims one due notification at a time, renders it for its recipient,
// hands it to the transport and records the outcome. Claiming is an UPDATE of a row picked with
// FOR UPDATE SKIP LOCKED that sets a lease, so replicas sharing a database never send the same
// row at once; a sender that dies mid-send leaves the lease to run out and the row is tried again,
// with the same Message-ID, which lets receiving servers recognise the repeat.
import type { Logger } from 'pino'
import { MosaicError, backoffMs, startWorker, type ServiceDb } from '../../kit/index.ts'
import type { NotificationsConfig } from './config.ts'
import type { NotificationKind } from './record.ts'
import { isPermanent, type Transport } from './transports.ts'
import * as templates from './templates.ts'

export interface NotificationRow {
  id: string
  tenant_id: string
  user_id: string
  kind: NotificationKind
  event_type: string
  order_id: string | null
  data: unknown
  attempts: number
  message_id: string
}

type Outcome =
  | { readonly status: 'sent'; readonly email: string; readonly mail: templates.Mail }
  | { readonly status: 'skipped'; readonly reason: string }
  | {
      readonly status: 'retry' | 'failed'
      readonly error: string
      readonly email?: string
      readonly mail?: templates.Mail
    }

export interface Sender {
  stop(): Promise<void>
}

export interface SenderOptions {
  readonly db: ServiceDb
  readonly log: Logger
  readonly transport: Transport
  readonly config: NotificationsConfig
}

export function startSender({ db, log, transport, config }: SenderOptions): Sender {
  const retry = { baseDelayMs: config.NOTIFICATIONS_RETRY_BASE_MS, maxDelayMs: config.NOTIFICATIONS_RETRY_MAX_MS }

  function claim(): Promise<NotificationRow[]> {
    return db.query<NotificationRow>(
      `update notifications n set lease_until = now() + make_interval(secs => $1), updated_at = now()
       from (select id from notifications
             where status = 'queued' and next_attempt_at <= now() and (lease_until is null or lease_until < now())
             order by next_attempt_at limit 1 for update skip locked) due
       where n.id = due.id
       returning n.id, n.tenant_id, n.user_id, n.kind, n.event_type, n.order_id, n.data, n.attempts, n.message_id`,
      [config.NOTIFICATIONS_LEASE_SECONDS],
    )
  }

  async function attempt(row: NotificationRow): Promise<Outcome> {
    if (row.kind === 'refund' && row.order_id) {
      const [notice] = await db.query<{ id: string }>(
        `select id from notifications where tenant_id = $1 and order_id = $2 and kind = 'cancellation' and (data->>'refunded')::boolean`,
        [row.tenant_id, row.order_id],
      )
      if (notice) return { status: 'skipped', reason: `told in the cancellation notice ${notice.id}` }
    }
    const [to] = await db.query<templates.Recipient>(
      'select email, name from recipients where user_id = $1 and tenant_id = $2',
      [row.user_id, row.tenant_id],
    )
    // The registration may simply not have arrived yet (events of different producers race).
    if (!to) return { status: 'retry', error: `no address known for user ${row.user_id} yet` }
    let mail: templates.Mail
    try {
      mail = await render(row, to)
    } catch (error) {
      // An event whose data cannot be rendered will not render better later.
      return { status: 'failed', error: `cannot render: ${(error as Error).message}`, email: to.email }
    }
    try {
      await transport.send({
        notificationId: row.id,
        tenantId: row.tenant_id,
        to: to.email,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: row.message_id,
      })
      return { status: 'sent', email: to.email, mail }
    } catch (error) {
      return { status: isPermanent(error) ? 'failed' : 'retry', error: (error as Error).message, email: to.email, mail }
    }
  }

  async function render(row: NotificationRow, to: templates.Recipient): Promise<templates.Mail> {
    switch (row.kind) {
      case 'welcome':
        return templates.welcome(to)
      case 'security':
        return templates.securityNotice(row.event_type, to, row.data)
      case 'receipt':
        return templates.receipt(to, row.data as templates.Confirmed)
      case 'refund':
        return templates.refund(to, row.data as templates.Refunded)
      case 'cancellation': {
        const order = row.data as templates.Cancelled
        const [refund] = order.refunded
          ? await db.query<{ data: templates.Refunded }>(
              `select data from notifications where tenant_id = $1 and order_id = $2 and kind = 'refund' order by created_at limit 1`,
              [row.tenant_id, row.order_id],
            )
          : []
        return templates.cancellation(
          to,
          order,
          refund ? { amount: refund.data.refunded, currency: refund.data.currency } : undefined,
        )
      }
      default:
        throw new MosaicError('internal', { detail: `no template for ${String(row.kind)}` })
    }
  }

  async function record(row: NotificationRow, outcome: Outcome): Promise<void> {
    const attempts = row.attempts + (outcome.status === 'skipped' ? 0 : 1)
    const exhausted = outcome.status === 'retry' && attempts >= config.NOTIFICATIONS_MAX_ATTEMPTS
    const status = exhausted ? 'failed' : outcome.status === 'retry' ? 'queued' : outcome.status
    const error =
      outcome.status === 'sent'
        ? null
        : outcome.status === 'skipped'
          ? outcome.reason
          : exhausted
            ? `gave up after ${attempts} attempts: ${outcome.error}`
            : outcome.error
    const mail = 'mail' in outcome ? outcome.mail : undefined
    await db.query(
      `update notifications set status = $2, attempts = $3, last_error = $4, lease_until = null, updated_at = now(),
         next_attempt_at = case when $2 = 'queued' then now() + make_interval(secs => $5) end,
         sent_at = case when $2 = 'sent' then now() end,
         email = coalesce($6, email), subject = coalesce($7, subject), text_body = coalesce($8, text_body)
       where id = $1`,
      [
        row.id,
        status,
        attempts,
        error,
        backoffMs(attempts, retry) / 1000,
        'email' in outcome ? (outcome.email ?? null) : null,
        mail?.subject ?? null,
        mail?.text ?? null,
      ],
    )
    const fields = { notification: row.id, kind: row.kind, attempts }
    if (status === 'failed') log.warn({ ...fields, error }, 'notification failed')
    else if (status === 'queued') log.info({ ...fields, error }, 'notification not sent; will retry')
    else log.debug({ ...fields, status }, 'notification done')
  }

  // One row at a time, so a lease never has to outlast more than one SMTP exchange.
  const worker = startWorker({
    name: 'notification sender',
    log,
    pollMs: config.NOTIFICATIONS_POLL_MS,
    claim,
    run: async (row) => record(row, await attempt(row)),
  })

  return {
    async stop() {
      await worker.stop()
      transport.close()
    },
  }
}
