// The saga runner: a kit worker that leases due sagas (FOR UPDATE SKIP LOCKED, so any number of
// replicas share the work and a saga runs in one place at a time) and runs them, up to
// `concurrency` at once. Woken at once after an order is placed; otherwise it polls, which also
// picks up retries that fell due, sagas of a process that died (their lease runs out), and on
// start every saga left unfinished.
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { startWorker, traced } from '../../kit/index.ts'
import { runSaga, type SagaDeps, type SagaRow } from './saga.ts'
import { sweepExpired } from './idempotency.ts'
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
  let lastSweep = 0

  // Each lease gets its own owner token: a run whose lease ran out and was taken over (here or by
  // another replica) finds out at its next renewal, and stops.
  async function claim(limit: number): Promise<{ saga: SagaRow; owner: string }[]> {
    // First: a claim that fails after leasing would leave its sagas to wait out their leases.
    if (Date.now() - lastSweep > SWEEP_EVERY_MS) {
      lastSweep = Date.now()
      const swept = await sweepExpired(deps.db)
      if (swept > 0) deps.log.debug({ swept }, 'expired idempotency keys removed')
    }
    const owner = `${runnerId}-${randomUUID().slice(0, 8)}`
    const claimed = await deps.db.query<SagaRow>(
      `update sagas set lease_owner = $1, lease_until = now() + $2::int * interval '1 millisecond'
      where order_id in (select order_id from sagas where phase <> 'done' and due_at <= now() and (lease_until is null or lease_until < now())
        and order_id <> all($4::text[]) order by due_at limit $3 for update skip locked)
      returning order_id, phase, reached, reason, detail, payment_token, attempts, deadline_at, trace_context`,
      [owner, deps.settings.leaseMs, limit, [...local]],
    )
    for (const saga of claimed) local.add(saga.order_id)
    return claimed.map((saga) => ({ saga, owner }))
  }

  const untrack = trackSagas(deps.db)
  const worker = startWorker({
    name: 'checkout saga runner',
    log: deps.log,
    pollMs: options.pollMs,
    concurrency: options.concurrency,
    claim,
    // In the trace of the request that placed the order, wherever and whenever it resumes.
    run: ({ saga, owner }) =>
      traced(
        'checkout saga',
        {
          from: saga.trace_context,
          attributes: { 'order.id': saga.order_id, 'saga.phase': saga.phase, 'saga.attempts': saga.attempts },
        },
        () => runSaga(sagaDeps, saga, owner),
      )
        .catch((error: unknown) =>
          deps.log.error(
            { err: error, orderId: saga.order_id },
            'checkout saga failed; it resumes when its lease runs out',
          ),
        )
        .finally(() => local.delete(saga.order_id)),
  })

  return {
    kick: worker.notify,
    settled(orderId, ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          done.off(orderId, finish)
          resolve()
        }, ms)
        const finish = (): void => {
          clearTimeout(timer)
          resolve()
        }
        done.once(orderId, finish)
      })
    },
    async stop() {
      await worker.stop()
      untrack()
    },
  }
}
