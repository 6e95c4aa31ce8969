// The orders service's environment variables, validated at start.
import { Type, Env, type Static } from '../../kit/index.ts'

export const OrdersConfig = Type.Object({
  ORDERS_SAGA_TIMEOUT_MS: Env.positive(
    30_000,
    'Time a checkout has to reach the pivot (committing stock) before it is compensated (`timeout`)',
  ),
  ORDERS_STEP_TIMEOUT_MS: Env.positive(5_000, 'Deadline of one call to catalog or payments'),
  ORDERS_RETRY_BASE_MS: Env.positive(200, 'First retry delay of a failed step (doubles, jittered)'),
  ORDERS_RETRY_MAX_MS: Env.positive(5_000, 'Longest retry delay of a failed step'),
  ORDERS_SAGA_CONCURRENCY: Env.positive(16, 'Sagas one process runs at once'),
  ORDERS_SAGA_POLL_MS: Env.positive(500, 'How often the runner looks for due sagas when not kicked'),
  ORDERS_SAGA_LEASE_MS: Env.positive(
    20_000,
    "How long a runner holds a saga (renewed at each step; at least the step timeout + 1 s); a dead process's sagas resume after it",
  ),
  ORDERS_IDEMPOTENCY_TTL_HOURS: Type.Integer({
    minimum: 24,
    maximum: 24 * 30,
    default: 24,
    description: 'How long an Idempotency-Key is remembered, hours',
  }),
  ORDERS_IDEMPOTENCY_WAIT_MS: Type.Integer({
    minimum: 0,
    maximum: 10_000,
    default: 2_000,
    description: 'A repeat waits this long for the first request before 409',
  }),
  ORDERS_DEFAULT_PAYMENT_TOKEN: Type.String({
    default: '',
    pattern: '^(tok_[A-Za-z0-9_]{1,64})?$',
    description: 'Token used when an order names no payment method (empty: one is required)',
  }),
})

export type OrdersSettings = Static<typeof OrdersConfig>
