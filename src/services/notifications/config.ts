// The notifications service's variables. With no SMTP_HOST (the embedded default) mails go to the
// development mailbox instead of a server; nothing is dropped either way.
import { Type, Env, type Static } from '../../kit/index.ts'

export const Config = Type.Object({
  SMTP_HOST: Type.Optional(Type.String({ minLength: 1, description: 'SMTP server; unset: mails go to the development mailbox' })),
  SMTP_PORT: Type.Optional(Env.port()),
  SMTP_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  SMTP_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  SMTP_FROM: Type.String({ pattern: '@[^@\\s<>]+>?\\s*$', default: 'Mosaic <no-reply@mosaic.localhost>', description: 'From address, "Name <address>" or an address' }),
  SMTP_SECURE: Env.flag(false),
  SMTP_REQUIRE_TLS: Env.flag(false),
  SMTP_TLS_REJECT_UNAUTHORIZED: Env.flag(true),
  SMTP_TIMEOUT_MS: Env.positive(15_000),
  NOTIFICATIONS_POLL_MS: Env.positive(1000),
  NOTIFICATIONS_RETRY_BASE_MS: Env.positive(30_000),
  NOTIFICATIONS_RETRY_MAX_MS: Env.positive(3_600_000),
  NOTIFICATIONS_MAX_ATTEMPTS: Env.positive(10),
  NOTIFICATIONS_LEASE_SECONDS: Env.positive(300),
  NOTIFICATIONS_REFUND_GRACE_MS: Type.Integer({ minimum: 0, default: 60_000, description: 'How long a refund notice waits for its order\'s cancellation notice' }),
})

export type NotificationsConfig = Static<typeof Config>

/** The domain of SMTP_FROM: Message-IDs are made under it. */
export function senderDomain(from: string): string {
  return /@([^@\s<>]+)>?\s*$/.exec(from)![1]!
}
