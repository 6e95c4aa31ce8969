// The notifications contract: a signed-in user's own notifications and preferences, and the
// development mailbox (mails kept when no SMTP server is configured) for staff.
import { Type, Limit, Cursor, Page, defineContract } from '../../kit/index.ts'

export const Kind = Type.Union([
  Type.Literal('welcome'),
  Type.Literal('receipt'),
  Type.Literal('cancellation'),
  Type.Literal('refund'),
  Type.Literal('security'),
])
export const Status = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sent'),
  Type.Literal('failed'),
  Type.Literal('skipped'),
])

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const DateTime = Type.String({ format: 'date-time' })

export const Notification = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Kind,
  status: Status,
  orderId: Nullable(Type.String()),
  email: Nullable(Type.String({ description: 'The address it went (or goes) to; null until the sender knows it' })),
  subject: Nullable(Type.String({ description: 'Null until the mail has been rendered for sending' })),
  attempts: Type.Integer({ description: 'SMTP deliveries tried' }),
  lastError: Nullable(Type.String({ description: 'Why the last attempt failed, or why the notification was skipped' })),
  nextAttemptAt: Nullable(DateTime),
  createdAt: DateTime,
  sentAt: Nullable(DateTime),
})

/** Kinds a user may turn off or on. Welcome mails go out at registration, before any choice could be made. */
export const Preferences = Type.Object({
  receipt: Type.Boolean(),
  cancellation: Type.Boolean(),
  refund: Type.Boolean(),
  security: Type.Literal(true, { description: 'Security notices cannot be turned off' }),
})

const PreferencesPatch = Type.Object(
  {
    receipt: Type.Optional(Type.Boolean()),
    cancellation: Type.Optional(Type.Boolean()),
    refund: Type.Optional(Type.Boolean()),
    security: Type.Optional(Type.Boolean({ description: 'Only true is accepted' })),
  },
  { additionalProperties: false, minProperties: 1 },
)

const Mail = Type.Object({
  notificationId: Type.String(),
  recipient: Type.String(),
  subject: Type.String(),
  text: Type.String(),
  /** The HTML part, as source: never to be rendered as it is. */
  html: Type.String(),
  /** The whole RFC 5322 message, as SMTP would carry it. */
  raw: Type.String(),
  deliveredAt: Type.String({ format: 'date-time' }),
})
export const Mailbox = Type.Object({
  /** `mailbox` when no SMTP server is configured, else where mails go now (`smtp://host:port`). */
  destination: Type.String(),
  items: Type.Array(Mail),
})

export const notificationsContract = defineContract({
  name: 'notifications',
  version: '1.0.0',
  routes: {
    listNotifications: {
      method: 'GET',
      path: '/api/notifications',
      summary: 'Your notifications, newest first',
      query: Type.Object({ limit: Limit(), cursor: Type.Optional(Cursor) }, { additionalProperties: false }),
      response: Page(Notification),
    },
    getNotification: {
      method: 'GET',
      path: '/api/notifications/:id',
      summary: 'One of your notifications',
      params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
      response: Notification,
      errors: ['not_found'],
    },
    getPreferences: {
      method: 'GET',
      path: '/api/notifications/preferences',
      summary: 'Which kinds of notification you receive',
      response: Preferences,
    },
    updatePreferences: {
      method: 'PATCH',
      path: '/api/notifications/preferences',
      summary: 'Turn kinds of notification off or on (security notices stay on)',
      body: PreferencesPatch,
      response: Preferences,
      errors: ['validation_failed'],
    },
    mailbox: {
      method: 'GET',
      path: '/api/notifications/mailbox',
      summary:
        'Development mailbox (staff): the mails kept for your tenant when no SMTP server is configured, newest first; an HTML page unless ?format=json or Accept: application/json',
      query: Type.Object(
        {
          limit: Limit(200, 50),
          format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('html')])),
        },
        { additionalProperties: false },
      ),
      response: Mailbox,
      produces: ['text/html'],
    },
  },
  actions: {},
  events: {},
})

export type NotificationsContract = typeof notificationsContract
