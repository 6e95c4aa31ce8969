// PostgreSQL pool metrics (OpenTelemetry's db.client.connection.*), measured from our side of the
// pool: postgres.js exposes no pool statistics, so a pool's work is counted as it enters and leaves
// it. A statement or a transaction holds one connection while it runs; what is in flight beyond the
// pool's size is waiting for one. `idle` is the free slots of the pool (postgres.js opens
// connections on demand, so a free slot may not be an open connection yet). The wait time is
// measured for transactions only, from asking to the first statement being able to run (a
// connection taken and BEGIN answered); a single statement's wait cannot be told apart from its run.
import { Gauge, Histogram } from 'prom-client'
import { registry } from '../telemetry/metrics.ts'

interface Pool {
  readonly max: number
  inFlight: number
}
const pools = new Map<string, Pool>()

// The gauges read the pools when scraped (collect), so they need no name of their own here.
new Gauge({
  name: 'db_client_connection_count',
  help: 'Connections of a PostgreSQL pool by state: used (running a statement or transaction), idle (free slots of the pool)',
  labelNames: ['db_client_connection_pool_name', 'db_client_connection_state'],
  registers: [registry],
  collect() {
    for (const [name, pool] of pools) {
      const used = Math.min(pool.inFlight, pool.max)
      this.set({ db_client_connection_pool_name: name, db_client_connection_state: 'used' }, used)
      this.set({ db_client_connection_pool_name: name, db_client_connection_state: 'idle' }, pool.max - used)
    }
  },
})

new Gauge({
  name: 'db_client_connection_max',
  help: 'Largest number of connections of a PostgreSQL pool (DATABASE_POOL_SIZE)',
  labelNames: ['db_client_connection_pool_name'],
  registers: [registry],
  collect() {
    for (const [name, pool] of pools) this.set({ db_client_connection_pool_name: name }, pool.max)
  },
})

new Gauge({
  name: 'db_client_connection_pending_requests',
  help: 'Statements and transactions waiting for a connection of a PostgreSQL pool',
  labelNames: ['db_client_connection_pool_name'],
  registers: [registry],
  collect() {
    for (const [name, pool] of pools)
      this.set({ db_client_connection_pool_name: name }, Math.max(0, pool.inFlight - pool.max))
  },
})

const waitTime = new Histogram({
  name: 'db_client_connection_wait_time_seconds',
  help: 'Time a transaction waited for its connection (and its BEGIN) in a PostgreSQL pool',
  labelNames: ['db_client_connection_pool_name'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
})

export interface PoolMeter {
  /** Counts `work` as holding a connection while it runs. */
  using<T>(work: () => Promise<T>): Promise<T>
  /** Call when the transaction asked for at `asked` (performance.now()) starts. */
  acquired(asked: number): void
  close(): void
}

export function meterPool(name: string, size: number): PoolMeter {
  const pool: Pool = { max: size, inFlight: 0 }
  pools.set(name, pool)
  return {
    async using(work) {
      pool.inFlight++
      try {
        return await work()
      } finally {
        pool.inFlight--
      }
    },
    acquired(asked) {
      waitTime.observe({ db_client_connection_pool_name: name }, (performance.now() - asked) / 1000)
    },
    close() {
      if (pools.get(name) === pool) pools.delete(name)
    },
  }
}
