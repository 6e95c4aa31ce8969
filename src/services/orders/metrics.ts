// The checkout saga's metrics: how many start and how they end, how many are in flight now, and
// how long each step takes (the calls to catalog and payments, with their retries counted apart).
import { Counter, Gauge, Histogram } from 'prom-client'
import { metricsRegistry, type ServiceDb } from '../../kit/index.ts'

const registers = [metricsRegistry]

export const sagasStarted = new Counter({
  name: 'orders_saga_started_total',
  help: 'Checkout sagas started (orders placed)',
  registers,
})

export const sagasFinished = new Counter({
  name: 'orders_saga_finished_total',
  help: 'Checkout sagas finished, by outcome: confirmed, or compensated (stock released, payment voided or refunded, order cancelled)',
  labelNames: ['outcome'],
  registers,
})

export const sagaStepDuration = new Histogram({
  name: 'orders_saga_step_duration_seconds',
  help: 'Duration of one attempt at a checkout step, by step and outcome (ok, compensate, retry)',
  labelNames: ['step', 'outcome'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
})

/** The databases of the orders instances of this process (tests run several). */
const databases = new Set<ServiceDb>()

new Gauge({
  name: 'orders_saga_in_flight',
  help: 'Checkout sagas not finished: running, waiting for a retry, or compensating',
  registers,
  async collect() {
    let n = 0
    for (const db of databases)
      n += Number(
        (
          await db
            .query<{ n: bigint }>(`select count(*) as n from sagas where phase <> 'done'`)
            .catch(() => [{ n: 0n }])
        )[0]!.n,
      )
    this.set(n)
  },
})

export function trackSagas(db: ServiceDb): () => void {
  databases.add(db)
  return () => {
    databases.delete(db)
  }
}
