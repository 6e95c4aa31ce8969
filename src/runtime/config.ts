import Type from 'typebox'
import { Env } from '../kit/config.ts'

/** The variables every Mosaic process reads. Services add their own (see each service's config). */
export const RuntimeConfig = Type.Object({
  PORT: Env.port(8080),
  HOST: Type.String({ default: '127.0.0.1' }),
  DATA_DIR: Type.String({ default: '.mosaic', description: 'Where embedded PGlite keeps its files; ":memory:" keeps nothing' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL for every service without a <NAME>_DATABASE_URL of its own (a schema each); unset: embedded PGlite' })),
  DATABASE_POOL_SIZE: Env.positive(10),
  CALL_TIMEOUT_MS: Env.positive(5_000),
  REQUEST_TIMEOUT_MS: Env.positive(30_000),
  BODY_LIMIT: Env.positive(1_048_576),
  HEADER_LIMIT: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 16_384, description: 'Largest request head, bytes; larger → 431' }),
  TRUST_PROXY: Type.String({ default: '', description: 'Proxies whose X-Forwarded-For is believed: "true", or addresses/CIDRs, comma-separated' }),
  MOSAIC_INTERNAL_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Shared by the gateway and services in separate processes to sign callers' })),
  CORS_ORIGINS: Type.String({ default: '' }),
  SHUTDOWN_TIMEOUT_MS: Env.positive(10_000),
  EVENT_MAX_ATTEMPTS: Env.positive(8),
  EVENT_RETRY_BASE_MS: Env.positive(250),
  EVENT_POLL_MS: Env.positive(250),
  BUS: Type.Union([Type.Literal('embedded'), Type.Literal('nats')], {
    default: 'embedded',
    description: 'embedded: events queued in the one database all services share; nats: NATS JetStream (needed when services have databases of their own)',
  }),
  NATS_URL: Type.String({ default: 'nats://127.0.0.1:4222', pattern: '^(nats|tls)://', description: 'The NATS server (JetStream enabled) when BUS=nats; comma-separated for a cluster' }),
  NATS_NAMESPACE: Type.String({ default: 'mosaic', pattern: '^[a-z][a-z0-9-]*$', description: 'Prefix of the streams and subjects, so that several deployments can share one NATS server' }),
  NATS_STREAM_MAX_AGE_SECONDS: Type.Integer({ minimum: 60, default: 7 * 86_400, description: 'How long the broker keeps events (a consumer started later still gets them)' }),
  NATS_ACK_WAIT_SECONDS: Type.Integer({ minimum: 1, default: 30, description: 'A delivery not acknowledged within this time goes to another replica (a consumer died mid-batch)' }),
  NATS_DUPLICATE_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 120, description: 'The broker drops an event id published again within this window' }),
  // Read by the logger (kit/log.ts); declared here so a typo stops the process with one line.
  LOG_LEVEL: Type.String({ pattern: '^(fatal|error|warn|info|debug|trace|silent)$', default: 'info' }),
})
