// Where rendered mails go: an SMTP server through nodemailer, or, with no SMTP_HOST, the
// development mailbox table. Both build the message with nodemailer, so the mailbox keeps the
// very bytes (headers, Message-ID, MIME parts) an SMTP server would have received.
import type { Transporter } from 'nodemailer'
import type { ServiceDb } from '../../kit/index.ts'
import type { NotificationsConfig } from './config.ts'

export interface Outgoing {
  readonly notificationId: string
  readonly tenantId: string
  readonly to: string
  readonly subject: string
  readonly text: string
  readonly html: string
  readonly messageId: string
}

export interface Transport {
  /** `smtp://host:port`, or `mailbox`: for logs and the mailbox page. */
  readonly describe: string
  /** Resolves once the server accepted the mail; rejects with nodemailer's error otherwise. */
  send(mail: Outgoing): Promise<void>
  close(): void
}

function message(from: string, mail: Outgoing) {
  return {
    from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    // RFC 3834: automatic mail; well-behaved auto-responders do not answer it.
    headers: { 'Auto-Submitted': 'auto-generated' },
  }
}

/**
 * A nodemailer transporter made for the first mail: nodemailer (some 25 MB and 0.1 s of CPU to
 * load) comes in then, not with every start.
 */
function onFirstMail(options: object): { get(): Promise<Transporter>; close(): void } {
  let made: Promise<Transporter> | undefined
  return {
    get: () => (made ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(options))),
    close: () =>
      void made?.then(
        (transporter) => transporter.close(),
        () => {},
      ),
  }
}

const smtpPort = (config: NotificationsConfig): number => config.SMTP_PORT ?? (config.SMTP_SECURE ? 465 : 587)

/** Where this configuration sends mail: `smtp://host:port`, or `mailbox`. */
export function destination(config: NotificationsConfig): string {
  return config.SMTP_HOST ? `smtp://${config.SMTP_HOST}:${smtpPort(config)}` : 'mailbox'
}

export function smtpTransport(config: NotificationsConfig): Transport {
  const host = config.SMTP_HOST!
  const port = smtpPort(config)
  if (config.SMTP_USERNAME && !config.SMTP_PASSWORD)
    throw new Error('invalid configuration: SMTP_PASSWORD is required with SMTP_USERNAME')
  // Not pooled: a connection per mail, so a server that went away costs one failed attempt,
  // never a pool of dead sockets. Notification volumes do not need more.
  const transporter = onFirstMail({
    host,
    port,
    secure: config.SMTP_SECURE,
    requireTLS: config.SMTP_REQUIRE_TLS,
    tls: { rejectUnauthorized: config.SMTP_TLS_REJECT_UNAUTHORIZED },
    ...(config.SMTP_USERNAME ? { auth: { user: config.SMTP_USERNAME, pass: config.SMTP_PASSWORD! } } : {}),
    connectionTimeout: config.SMTP_TIMEOUT_MS,
    greetingTimeout: config.SMTP_TIMEOUT_MS,
    socketTimeout: config.SMTP_TIMEOUT_MS,
  })
  return {
    describe: destination(config),
    async send(mail) {
      await (await transporter.get()).sendMail(message(config.SMTP_FROM, mail))
    },
    close: transporter.close,
  }
}

export function mailboxTransport(config: NotificationsConfig, db: ServiceDb): Transport {
  const render = onFirstMail({ streamTransport: true, buffer: true, newline: 'unix' })
  return {
    describe: destination(config),
    async send(mail) {
      const info = await (await render.get()).sendMail(message(config.SMTP_FROM, mail))
      // Keyed by the notification: a retry after a crash between this and marking it sent keeps one copy.
      await db.query(
        `insert into mailbox (notification_id, tenant_id, recipient, subject, text_body, html_body, raw)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (notification_id) do nothing`,
        [
          mail.notificationId,
          mail.tenantId,
          mail.to,
          mail.subject,
          mail.text,
          mail.html,
          (info.message as Buffer).toString('utf8'),
        ],
      )
    },
    close: render.close,
  }
}

/**
 * Whether trying again later can help. A 5xx reply (550 no such mailbox, 553 bad address, 554
 * rejected) is the server's final word on this mail; 4xx replies (421 service not available, 450
 * mailbox busy) and connection failures pass. Authentication failures are the sender's
 * configuration, not the mail's fault: they are retried (within the attempt bound) while someone
 * fixes SMTP_USERNAME or SMTP_PASSWORD.
 */
export function isPermanent(error: unknown): boolean {
  const { responseCode, code } = error as { responseCode?: unknown; code?: unknown }
  if (code === 'EAUTH') return false
  return typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600
}
