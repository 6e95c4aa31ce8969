// The saga runner: a loop that leases due sagas (FOR UPDATE SKIP LOCKED, so any number of
// replicas share the work and a saga runs in one place at a time) and runs them, up to
// `concurrency` at once. Woken at once after an order is placed; otherwise it polls, which also
// picks up retries that fell due, sagas of a process that died (their lease runs out), and on
// start every saga left unfinished.
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { runSaga, type SagaDeps, type SagaRow } from './saga.ts'
import { sweepExpired } from './idempotency.ts'
import { traced } from '../../kit/index.ts'
import { trackSagas } from './metrics.ts'

export interface RunnerOptions {
  readonly concurrency: number
  readonly pollMs: number
}

export interface SagaRunner {
  /** Something is due now: look at once instead of at the next poll. */
  kick(): void
  /** Resolves when the saga of `orderId` finishes in this process, or after `ms`. */
  settled(orderId: string, ms: number): Promise<void>
  /** Stops leasing and waits for the sagas in flight. */
  stop(): Promise<void>
}

const SWEEP_EVERY_MS = 60_000

export function startSagaRunner(deps: Omit<SagaDeps, 'settled'>, options: RunnerOptions): SagaRunner {
  const runnerId = `${process.pid}-${randomUUID().slice(0, 8)}`
  /** Sagas running here now: never leased twice, even when a slow one's lease ran out. */
  const local = new Set<string>()
  const done = new EventEmitter().setMaxListeners(0)
  const sagaDeps: SagaDeps = { ...deps, settled: (orderId) => done.emit(orderId) }
  const inFlight = new Set<Promise<void>>()
  let running = true
  let wake: (() => void) | undefined
  let kicked = false
  let lastSweep = 0

  // Each lease gets its own owner token: a run whose lease ran out and was taken over (here or by
  // another replica) finds out at its next renewal, and stops.
  const claim = (owner: string, limit: number): Promise<SagaRow[]> => deps.db.query<SagaRow>(`update sagas set lease_owner = $1, lease_until = now() + $2::int * interval '1 millisecond'
    where order_id in (select order_id from sagas where phase <> 'done' and due_at <= now() and (lease_until is null or lease_until < now())
      and order_id <> all($4::text[]) order by due_at limit $3 for update skip locked)
    returning order_id, phase, reached, reason, detail, payment_token, attempts, deadline_at, trace_context`, [owner, deps.settings.leaseMs, limit, [...local]])

  async function loop(): Promise<void> {
    while (running) {
      kicked = false
      try {
        const free = options.concurrency - inFlight.size
        const owner = `${runnerId}-${randomUUID().slice(0, 8)}`
        const claimed = free > 0 ? await claim(owner, free) : []
        for (const saga of claimed) {
          local.add(saga.order_id)
          // In the trace of the request that placed the order, wherever and whenever it resumes.
          const run = traced('checkout saga', { from: saga.trace_context, attributes: { 'order.id': saga.order_id, 'saga.phase': saga.phase, 'saga.attempts': saga.attempts } },
            () => runSaga(sagaDeps, saga, owner))
            .catch((error: unknown) => deps.log.error({ err: error, orderId: saga.order_id }, 'checkout saga failed; it resumes when its lease runs out'))
            .finally(() => { inFlight.delete(run); local.delete(saga.order_id); wake?.() })
          inFlight.add(run)
        }
        if (Date.now() - lastSweep > SWEEP_EVERY_MS) {
          lastSweep = Date.now()
          const swept = await sweepExpired(deps.db)
          if (swept > 0) deps.log.debug({ swept }, 'expired idempotency keys removed')
        }
        // A full batch may mean more is due: look again at once.
        if (claimed.length > 0 && claimed.length === free) continue
      } catch (error) {
        if (!running) break
        deps.log.error({ err: error }, 'checkout saga runner: cannot lease sagas')
      }
      if (kicked || !running) continue
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs)
        wake = () => { clearTimeout(timer); wake = undefined; resolve() }
      })
    }
  }

  const untrack = trackSagas(deps.db)
  const looping = loop()
  return {
    kick() {
      kicked = true
      wake?.()
    },
    settled(orderId, ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => { done.off(orderId, finish); resolve() }, ms)
        const finish = (): void => { clearTimeout(timer); resolve() }
        done.once(orderId, finish)
      })
    },
    async stop() {
      running = false
      wake?.()
      await looping
      await Promise.all(inFlight)
      untrack()
    },
  }
}
