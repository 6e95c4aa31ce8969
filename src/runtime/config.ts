import Type from 'typebox'
import { Env } from '../kit/config.ts'

/** The variables every Mosaic process reads. Services add their own (see each service's config). */
export const RuntimeConfig = Type.Object({
  PORT: Env.port(8080),
  HOST: Type.String({ default: '127.0.0.1' }),
  DATA_DIR: Type.String({ default: '.mosaic', description: 'Where embedded PGlite keeps its files; ":memory:" keeps nothing' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOL_SIZE: Env.positive(10),
  CALL_TIMEOUT_MS: Env.positive(5_000),
  REQUEST_TIMEOUT_MS: Env.positive(30_000),
  BODY_LIMIT: Env.positive(1_048_576),
  HEADER_LIMIT: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 16_384, description: 'Largest request head, bytes; larger → 431' }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000, description: 'Time a client has to send a request\'s head; slower → connection closed' }),
  RECEIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 30_000, description: 'Time a client has to send a whole request, head and body (at least HEADERS_TIMEOUT_MS); slower → connection closed' }),
  IDLE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 60_000, description: 'Time a connection may stay silent, a request in flight or not; longer → closed' }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 72_000, description: 'Time an idle kept-alive connection stays open between requests (above a load balancer\'s own, 60 s on AWS)' }),
  MAX_CONNECTIONS_PER_CLIENT: Type.Integer({ minimum: 0, default: 256, description: 'Connections one client address may hold open; more are closed at once. 0: no cap (set 0 or raise it behind a proxy, whose address all clients then share)' }),
  METRICS_PORT: Type.Optional(Type.String({ pattern: '^(off|[0-9]{1,5})$', description: 'Port of GET /metrics (Prometheus), apart from the public one; "off": none. Default 9464, or any free port when PORT is 0' })),
  TRUST_PROXY: Type.String({ default: '', description: 'Proxies whose X-Forwarded-For is believed: "true", or addresses/CIDRs, comma-separated' }),
  MOSAIC_INTERNAL_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Shared by the gateway and services in separate processes to sign callers' })),
  CORS_ORIGINS: Type.String({ default: '' }),
  SHUTDOWN_TIMEOUT_MS: Env.positive(10_000),
  EVENT_MAX_ATTEMPTS: Env.positive(8),
  EVENT_RETRY_BASE_MS: Env.positive(250),
  EVENT_POLL_MS: Env.positive(250),
  // Read by the logger (kit/log.ts); declared here so a typo stops the process with one line.
  LOG_LEVEL: Type.String({ pattern: '^(fatal|error|warn|info|debug|trace|silent)$', default: 'info' }),
})
