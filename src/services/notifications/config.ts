// The notifications service's variables. With no SMTP_HOST (the embedded default) mails go to the
// development mailbox instead of a server; nothing is dropped either way.
import { Type, Env, type Static } from '../../kit/index.ts'

export const Config = Type.Object({
  SMTP_HOST: Type.Optional(
    Type.String({ minLength: 1, description: 'SMTP server; unset: mails go to the development mailbox' }),
  ),
  SMTP_PORT: Type.Optional(Env.port(undefined, 'SMTP port (default 587, or 465 with SMTP_SECURE)')),
  SMTP_USERNAME: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'SMTP user (AUTH PLAIN/LOGIN); a username without a password stops the start',
    }),
  ),
  SMTP_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'SMTP password' })),
  SMTP_FROM: Type.String({
    pattern: '@[^@\\s<>]+>?\\s*$',
    default: 'Mosaic <no-reply@mosaic.localhost>',
    description: 'From header and envelope sender, `Name <address>` or an address; its domain names the Message-IDs',
  }),
  SMTP_SECURE: Env.flag(false, 'Implicit TLS from the first byte (SMTPS, usually port 465)'),
  SMTP_REQUIRE_TLS: Env.flag(
    false,
    'Refuse to send unless the server upgrades the connection with STARTTLS (otherwise STARTTLS is used when offered)',
  ),
  SMTP_TLS_REJECT_UNAUTHORIZED: Env.flag(
    true,
    '`false` accepts a certificate that does not verify (self-signed test servers only)',
  ),
  SMTP_TIMEOUT_MS: Env.positive(15_000, 'Connection, greeting and socket timeout'),
  NOTIFICATIONS_POLL_MS: Env.positive(1000, 'How often the sender looks for due notifications'),
  NOTIFICATIONS_RETRY_BASE_MS: Env.positive(
    30_000,
    'First retry delay of a mail that failed temporarily (doubles, jittered)',
  ),
  NOTIFICATIONS_RETRY_MAX_MS: Env.positive(3_600_000, 'Longest retry delay of a mail'),
  NOTIFICATIONS_MAX_ATTEMPTS: Env.positive(10, 'Attempts before a temporarily failing notification is marked failed'),
  NOTIFICATIONS_LEASE_SECONDS: Env.positive(
    300,
    'How long a claimed notification is held by one sender before another may take it',
  ),
  NOTIFICATIONS_REFUND_GRACE_MS: Type.Integer({
    minimum: 0,
    default: 60_000,
    description: "How long a refund notice waits for its order's cancellation notice",
  }),
})

export type NotificationsConfig = Static<typeof Config>

/** The domain of SMTP_FROM: Message-IDs are made under it. */
export function senderDomain(from: string): string {
  return /@([^@\s<>]+)>?\s*$/.exec(from)![1]!
}
