// One way to change an order: a command decided on the aggregate, appended to its stream, and in
// the same transaction the read model updated and the public events put in the outbox.
import { toAmount, sideBySide, type ServiceDb, type ServiceTx } from '../../kit/index.ts'
import type { OrdersContract } from './contract.ts'
import { decide, type Command, type OrderState } from './order.ts'
import { command, type Stored } from './event-store.ts'
import { orderReducer, project, linesOut } from './views.ts'

export type Tx = ServiceTx<OrdersContract>
export type Db = ServiceDb<OrdersContract>

/** The published events (what other services see) for the events just appended. */
async function publish(tx: Tx, state: OrderState, appended: readonly Stored[]): Promise<void> {
  const ref = { orderId: state.orderId, userId: state.userId, tenantId: state.tenantId }
  const total = toAmount(BigInt(state.totalMinor), state.currency)
  for (const event of appended) {
    if (event.type === 'order.placed')
      await tx.publish(
        'order.placed',
        { ...ref, items: linesOut(state.items, state.currency), total, currency: state.currency },
        { subject: state.orderId },
      )
    if (event.type === 'order.confirmed')
      await tx.publish(
        'order.confirmed',
        {
          ...ref,
          items: linesOut(state.items, state.currency),
          total,
          currency: state.currency,
          paymentId: state.paymentId!,
        },
        { subject: state.orderId },
      )
    if (event.type === 'order.cancelled')
      await tx.publish(
        'order.cancelled',
        { ...ref, reason: state.reason!, detail: state.detail, refunded: state.refunded },
        { subject: state.orderId },
      )
  }
}

/**
 * Runs `cmd` on order `orderId`; `then` runs in the same transaction with the state after it,
 * whether or not the command changed anything (a saga row update, an idempotency record).
 * `known`: the order's state as the caller's last command left it (see `command`).
 */
export function runCommand(
  db: Db,
  orderId: string,
  cmd: Command | ((state: OrderState) => Command),
  then?: (tx: Tx, state: OrderState, changed: boolean) => Promise<void>,
  known?: OrderState,
): Promise<OrderState> {
  return command(
    db,
    orderId,
    orderReducer,
    (state) => {
      const events = decide(state, typeof cmd === 'function' ? cmd(state) : cmd)
      return {
        events,
        // Side by side: none needs another's answer, so on PostgreSQL they cost one round trip.
        then: async (tx, next, appended) => {
          const changed = appended.length > 0
          await sideBySide([
            changed && project(tx, next),
            changed && publish(tx, next, appended),
            then?.(tx, next, changed),
          ])
        },
      }
    },
    known,
  )
}
