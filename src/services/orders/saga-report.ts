// What the operator console shows of the checkout sagas (the `sagas` action): each saga's row (its
// phase, attempts, the error it is retrying on) with the steps it has taken so far, read from the
// order's events: each fact recorded is the outcome of one step, at the time it was appended.
import type { Sql, Static } from '../../kit/index.ts'
import type { SagaList } from './contract.ts'

type Saga = Static<typeof SagaList>['sagas'][number]

/** The step and outcome each recorded fact stands for (`order.placed` starts the saga; it is no step). */
const STEPS: Readonly<Record<string, { step: string; outcome: string }>> = {
  'order.stock_reserved': { step: 'reserve', outcome: 'ok' },
  'order.payment_authorized': { step: 'authorize', outcome: 'ok' },
  'order.payment_declined': { step: 'authorize', outcome: 'declined' },
  'order.stock_committed': { step: 'commit', outcome: 'ok' },
  'order.payment_captured': { step: 'capture', outcome: 'ok' },
  'order.confirmed': { step: 'confirm', outcome: 'ok' },
  'order.cancel_requested': { step: 'cancel requested', outcome: 'ok' },
  'order.payment_voided': { step: 'void', outcome: 'compensated' },
  'order.payment_refunded': { step: 'refund', outcome: 'compensated' },
  'order.stock_released': { step: 'release', outcome: 'compensated' },
  'order.cancelled': { step: 'cancel', outcome: 'compensated' },
}

interface Row {
  order_id: string
  phase: 'forward' | 'compensate' | 'done'
  reached: number
  attempts: number
  reason: string | null
  last_error: string | null
  due_at: Date
  deadline_at: Date
  created_at: Date
  updated_at: Date
  trace_id: string | null
  events: { type: string; at: string }[]
}

/** Sagas not done (or, with `all`, the latest of any phase), newest first, with their steps. */
export async function sagaReport(db: Sql, options: { limit: number; all: boolean }): Promise<Saga[]> {
  const rows = await db.query<Row>(
    `select s.order_id, s.phase, s.reached, s.attempts, s.reason, s.last_error, s.due_at, s.deadline_at,
        s.created_at, s.updated_at, substr(s.trace_context->>'traceparent', 4, 32) as trace_id,
        coalesce((select json_agg(json_build_object('type', e.type, 'at', e.recorded_at) order by e.version)
          from events e where e.stream_id = s.order_id), '[]'::json) as events
      from sagas s where $1 or s.phase <> 'done'
      order by s.created_at desc limit $2`,
    [options.all, options.limit],
  )
  return rows.map((row) => {
    let previous = Date.parse(row.events[0]?.at ?? row.created_at.toISOString())
    const steps = row.events.flatMap(({ type, at }) => {
      const known = STEPS[type]
      if (!known) return []
      const time = Date.parse(at)
      const took = time - previous
      previous = time
      return [{ ...known, at: new Date(time).toISOString(), tookMs: Math.max(0, took) }]
    })
    return {
      orderId: row.order_id,
      phase: row.phase,
      attempts: row.attempts,
      reason: row.reason,
      lastError: row.last_error,
      dueAt: row.due_at.toISOString(),
      deadlineAt: row.deadline_at.toISOString(),
      startedAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      traceId: row.trace_id,
      steps,
    }
  })
}
