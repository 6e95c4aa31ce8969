// A gateway node for the notifications suites: identity (real registrations and lockouts),
// notifications, and two test-only producers that stand in for orders and payments (being built
// elsewhere): services named like them, declaring exactly their contracts' events, so events go
// through the real outbox, relay and inbox.
import assert from 'node:assert/strict'
import { defineContract, defineService, type Static } from '../../src/kit/index.ts'
import { ordersContract } from '../../src/services/orders/contract.ts'
import { paymentsContract } from '../../src/services/payments/contract.ts'
import identity from '../../src/services/identity/service.ts'
import notifications from '../../src/services/notifications/service.ts'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { adminEnv } from '../auth.ts'
import { eventually, type TestNode } from '../identity/helpers.ts'

export {
  call,
  register,
  signUp,
  login,
  assertProblem,
  assertFieldError,
  eventually,
  sleep,
  uniqueEmail,
  PASSWORD,
  type TestNode,
} from '../identity/helpers.ts'

const ordersProducer = defineService(
  defineContract({ name: 'orders', version: '0.0.0', routes: {}, actions: {}, events: ordersContract.events }),
  { routes: {}, actions: {} },
)
const paymentsProducer = defineService(
  defineContract({ name: 'payments', version: '0.0.0', routes: {}, actions: {}, events: paymentsContract.events }),
  { routes: {}, actions: {} },
)

export type Confirmed = Static<(typeof ordersContract.events)['order.confirmed']>
export type Cancelled = Static<(typeof ordersContract.events)['order.cancelled']>
export type Refunded = Static<(typeof paymentsContract.events)['payment.refunded']>

/** Fast timings: the sender polls every 50 ms and retries after 50–200 ms. */
export const fastEnv = {
  NOTIFICATIONS_POLL_MS: '50',
  NOTIFICATIONS_RETRY_BASE_MS: '50',
  NOTIFICATIONS_RETRY_MAX_MS: '200',
  NOTIFICATIONS_MAX_ATTEMPTS: '12',
  NOTIFICATIONS_REFUND_GRACE_MS: '300',
  EVENT_POLL_MS: '20',
  EVENT_RETRY_BASE_MS: '20',
  AUTH_REGISTER_LIMIT: '1000000',
}

export async function startNotificationsNode(env: NodeJS.ProcessEnv): Promise<TestNode> {
  const node = await startNode({
    role: 'gateway',
    services: [identity, notifications, ordersProducer, paymentsProducer],
    port: 0,
    env: { HOST: '127.0.0.1', DATA_DIR: ':memory:', LOG_LEVEL: 'silent', ...adminEnv, ...fastEnv, ...env },
  })
  return { node, url: node.url, stop: () => node.stop() }
}

/** Publishes an event as the (stand-in) producer would: in a transaction, through its outbox. */
export async function publish<K extends 'order.confirmed' | 'order.cancelled' | 'payment.refunded'>(
  node: TestNode,
  type: K,
  data: K extends 'order.confirmed' ? Confirmed : K extends 'order.cancelled' ? Cancelled : Refunded,
): Promise<string> {
  const producer = type.startsWith('order.') ? 'orders' : 'payments'
  const db = node.node.services.get(producer)!.context.db
  const event = await db.transaction((tx) => tx.publish(type as never, data as never))
  return event.id
}

export function notificationsDb(node: TestNode) {
  return node.node.engine.forSchema('notifications')
}

export interface NotificationRow {
  id: string
  user_id: string
  kind: string
  status: string
  attempts: number
  last_error: string | null
  event_id: string
  message_id: string
  email: string | null
}

export async function rowsFor(node: TestNode, userId: string): Promise<NotificationRow[]> {
  return notificationsDb(node).query<NotificationRow>(
    'select * from notifications where user_id = $1 order by created_at, kind',
    [userId],
  )
}

/** Waits until every notification of the user is settled (nothing queued) and returns them. */
export async function settled(
  node: TestNode,
  userId: string,
  count: number,
  timeoutMs = 10_000,
): Promise<NotificationRow[]> {
  let rows: NotificationRow[] = []
  await eventually(
    `${count} settled notification(s) for ${userId}`,
    async () => {
      rows = await rowsFor(node, userId)
      return rows.length >= count && rows.every((r) => r.status !== 'queued')
    },
    timeoutMs,
  )
  assert.equal(rows.length, count, JSON.stringify(rows))
  return rows
}

/** Waits for the user's address to be known (their user.registered handled). */
export async function recipientKnown(node: TestNode, userId: string): Promise<void> {
  await eventually(
    `recipient ${userId}`,
    async () =>
      (await notificationsDb(node).query('select 1 from recipients where user_id = $1', [userId])).length === 1,
  )
}

let orders = 0
export function order(userId: string, overrides: Partial<Confirmed> = {}): Confirmed {
  return {
    orderId: `ord-${process.pid}-${++orders}`,
    userId,
    tenantId: 'default',
    items: [
      { productId: 'prod-mouse', name: 'Wireless mouse', quantity: 2, unitPrice: 19.99, currency: 'USD' },
      { productId: 'prod-kbd', name: 'Keyboard <Pro> & "Co"', quantity: 1, unitPrice: 0.1, currency: 'USD' },
    ],
    total: 40.08,
    currency: 'USD',
    paymentId: `pay-${orders}`,
    ...overrides,
  }
}

export type { MosaicNode }
