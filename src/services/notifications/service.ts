// The notifications service: turns identity, order and payment events into mails. Handlers only
// record notifications (in the inbox transaction, so a redelivered event records nothing new);
// the sender loop started here delivers them over SMTP, or to the development mailbox.
import { MosaicError, defineService, on, requireIdentity, wantsHtml } from '../../kit/index.ts'
import { identityContract } from '../identity/contract.ts'
import { ordersContract } from '../orders/contract.ts'
import { paymentsContract } from '../payments/contract.ts'
import { notificationsContract } from './contract.ts'
import { Config, senderDomain, type NotificationsConfig } from './config.ts'
import { rememberRecipient, recordNotification } from './record.ts'
import { listMine, findNotification, notFound } from './queries.ts'
import { getPreferences, updatePreferences } from './preferences.ts'
import { keptMails, mailboxPage } from './mailbox.ts'
import { smtpTransport, mailboxTransport, destination } from './transports.ts'
import { startSender } from './sender.ts'

const domainOf = (ctx: { config: unknown }): string => senderDomain((ctx.config as NotificationsConfig).SMTP_FROM)

// Identity's events that each tell the user of something done to their account: one security notice each.
const securityNotices = [
  'user.registration_repeated',
  'user.locked',
  'user.recovery_code_used',
  'user.mfa_disabled',
] as const

export default defineService(notificationsContract, {
  migrations: new URL('./migrations/', import.meta.url),
  config: Config,

  async start(ctx) {
    const transport = ctx.config.SMTP_HOST ? smtpTransport(ctx.config) : mailboxTransport(ctx.config, ctx.db)
    ctx.log.info(
      { transport: transport.describe },
      transport.describe === 'mailbox'
        ? 'no SMTP_HOST: mails go to the development mailbox (GET /api/notifications/mailbox, staff)'
        : 'notifications are sent over SMTP',
    )
    return startSender({ db: ctx.db, log: ctx.log, transport, config: ctx.config })
  },
  stop: (ctx) => ctx.state.stop(),

  routes: {
    async listNotifications({ query }, ctx) {
      const me = requireIdentity(ctx)
      return listMine(ctx.db, me.tenantId, me.userId, query.limit, query.cursor)
    },
    async getNotification({ params }, ctx) {
      const me = requireIdentity(ctx)
      const found = await findNotification(ctx.db, me.tenantId, params.id)
      // Someone else's notification is absent, not forbidden: ids are not confirmed to exist.
      if (
        !ctx.authorize(me, 'notifications:read', {
          type: 'Notification',
          id: params.id,
          ownerId: found.ownerId,
          tenantId: found.tenantId,
        })
      )
        throw notFound(params.id)
      return found.out
    },
    async getPreferences(_input, ctx) {
      const me = requireIdentity(ctx)
      return getPreferences(ctx.db, me.tenantId, me.userId)
    },
    async updatePreferences({ body }, ctx) {
      const me = requireIdentity(ctx)
      return updatePreferences(ctx.db, me.tenantId, me.userId, body)
    },
    async mailbox({ query, headers }, ctx) {
      const me = requireIdentity(ctx)
      if (!ctx.authorize(me, 'notifications:mailbox', { type: 'Tenant', id: me.tenantId }))
        throw new MosaicError('forbidden', { detail: 'the mailbox is for staff' })
      const mails = await keptMails(ctx.db, me.tenantId, query.limit, destination(ctx.config))
      ctx.setHeader('vary', 'accept')
      if (!wantsHtml(query.format, headers.accept, 'html')) return mails
      ctx.setHeader('content-type', 'text/html; charset=utf-8')
      return mailboxPage(mails, me.tenantId)
    },
  },
  actions: {},

  subscriptions: [
    on(identityContract, 'user.registered', async (event, tx, ctx) => {
      await rememberRecipient(tx, event.data)
      await recordNotification(tx, event, domainOf(ctx), {
        kind: 'welcome',
        userId: event.data.userId,
        tenantId: event.data.tenantId,
      })
    }),
    ...securityNotices.map((type) =>
      on(identityContract, type, (event, tx, ctx) =>
        recordNotification(tx, event, domainOf(ctx), {
          kind: 'security',
          userId: event.data.userId,
          tenantId: event.data.tenantId,
        }),
      ),
    ),
    on(ordersContract, 'order.confirmed', (event, tx, ctx) =>
      recordNotification(tx, event, domainOf(ctx), {
        kind: 'receipt',
        userId: event.data.userId,
        tenantId: event.data.tenantId,
        orderId: event.data.orderId,
      }),
    ),
    on(ordersContract, 'order.cancelled', (event, tx, ctx) =>
      recordNotification(tx, event, domainOf(ctx), {
        kind: 'cancellation',
        userId: event.data.userId,
        tenantId: event.data.tenantId,
        orderId: event.data.orderId,
      }),
    ),
    // A refund waits a little: if its order's cancellation notice turns up, that notice tells of the refund and this one is skipped.
    on(paymentsContract, 'payment.refunded', (event, tx, ctx) =>
      recordNotification(tx, event, domainOf(ctx), {
        kind: 'refund',
        userId: event.data.userId,
        tenantId: event.data.tenantId,
        orderId: event.data.orderId,
        delayMs: (ctx.config as NotificationsConfig).NOTIFICATIONS_REFUND_GRACE_MS,
      }),
    ),
  ],
})
