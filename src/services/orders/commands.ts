// One way to change an order: a command decided on the aggregate, appended to its stream, and in
// the same transaction the read model updated and the public events put in the outbox.
import { toAmount, sideBySide, type ServiceDb, type ServiceTx } from '../../kit/index.ts'
import type { OrdersContract } from './contract.ts'
import { decide, evolve, type Command, type OrderEvent, type OrderState, type Recorded } from './order.ts'
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
 * A command and what follows it in the same append: `next` is asked on the state after each
 * command's events and gives the command to decide after it, or none (the saga records a step's
 * outcome and, in the same transaction, the step after it when that one calls nobody: confirm, cancel).
 */
export interface Commands {
  readonly first: Command
  readonly next: (state: OrderState) => Command | undefined
}

/**
 * The events of `cmd` on `state`, each command decided on the state its predecessors' events left.
 * A follow-up refused ends the chain: the facts before it are still recorded, and it is refused
 * again, on its own, when it is run as a step of its own.
 */
export function decideAll(state: OrderState, cmd: Command | Commands): OrderEvent[] {
  if (!('first' in cmd)) return decide(state, cmd)
  const events: OrderEvent[] = []
  let current = state
  for (let c: Command | undefined = cmd.first; c; c = cmd.next(current)) {
    let decided: OrderEvent[]
    try {
      decided = decide(current, c)
    } catch (error) {
      if (c === cmd.first) throw error
      break
    }
    // A follow-up that changes nothing ends the chain (it would be asked the same again).
    if (decided.length === 0 && c !== cmd.first) break
    for (const event of decided) {
      events.push(event)
      // Provisional: the version and time come from the append; deciding looks at neither.
      current = evolve(current, { ...event, version: current.version + 1, at: current.updatedAt } as Recorded)
    }
  }
  return events
}

/**
 * Runs `cmd` on order `orderId`; `then` runs in the same transaction with the state after it,
 * whether or not the command changed anything (a saga row update, an idempotency record).
 * `known`: the order's state as the caller's last command left it (see `command`).
 */
export function runCommand(
  db: Db,
  orderId: string,
  cmd: Command | Commands,
  then?: (tx: Tx, state: OrderState, changed: boolean) => Promise<void>,
  known?: OrderState,
): Promise<OrderState> {
  return command(
    db,
    orderId,
    orderReducer,
    (state) => {
      const events = decideAll(state, cmd)
      return {
        events,
        // Side by side: none needs another's answer, so on PostgreSQL they cost one round trip.
        // The view once per append, from the final state, however many events it holds.
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
