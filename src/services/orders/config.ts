// The orders service's environment variables, validated at start.
import { Type, Env, type Static } from '../../kit/index.ts'

export const OrdersConfig = Type.Object({
  ORDERS_SAGA_TIMEOUT_MS: Env.positive(30_000),
  ORDERS_STEP_TIMEOUT_MS: Env.positive(5_000),
  ORDERS_RETRY_BASE_MS: Env.positive(200),
  ORDERS_RETRY_MAX_MS: Env.positive(5_000),
  ORDERS_SAGA_CONCURRENCY: Env.positive(16),
  ORDERS_SAGA_POLL_MS: Env.positive(500),
  ORDERS_SAGA_LEASE_MS: Env.positive(20_000),
  ORDERS_IDEMPOTENCY_TTL_HOURS: Type.Integer({ minimum: 24, maximum: 24 * 30, default: 24, description: 'How long an Idempotency-Key is remembered' }),
  ORDERS_IDEMPOTENCY_WAIT_MS: Type.Integer({ minimum: 0, maximum: 10_000, default: 2_000, description: 'A repeat waits this long for the first request before 409' }),
  ORDERS_DEFAULT_PAYMENT_TOKEN: Type.String({ default: '', pattern: '^(tok_[A-Za-z0-9_]{1,64})?$', description: 'Token used when an order names no payment method (empty: one is required)' }),
})

export type OrdersSettings = Static<typeof OrdersConfig>
