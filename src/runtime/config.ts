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
  TRUST_PROXY: Type.String({ default: '', description: 'Proxies whose X-Forwarded-For is believed: "true", or addresses/CIDRs, comma-separated' }),
  MOSAIC_INTERNAL_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Shared by the gateway and services in separate processes to sign callers' })),
  CORS_ORIGINS: Type.String({ default: '' }),
  SHUTDOWN_TIMEOUT_MS: Env.positive(10_000),
  EVENT_MAX_ATTEMPTS: Env.positive(8),
  EVENT_RETRY_BASE_MS: Env.positive(250),
  EVENT_POLL_MS: Env.positive(250),
  CACHE_TTL_MS: Env.positive(30_000),
  CACHE_MAX_ENTRIES: Type.Integer({ minimum: 0, default: 10_000, description: 'Entries of the read cache (ctx.cache) at most; 0 turns it off' }),
  CACHE_MAX_BYTES: Env.positive(64 * 1024 * 1024),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'Carries cache invalidations between processes' })),
  // Read by the logger (kit/log.ts); declared here so a typo stops the process with one line.
  LOG_LEVEL: Type.String({ pattern: '^(fatal|error|warn|info|debug|trace|silent)$', default: 'info' }),
})
