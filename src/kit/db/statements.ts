// What a unit of work costs the database, counted on our side: statements and transactions by
// schema, for either engine. A request's or an event's cost is mostly its round trips, and these
// counters say how many it makes (bench/checkout.ts divides them by the orders placed).
import { Counter } from 'prom-client'
import { registry } from '../telemetry/metrics.ts'

const statements = new Counter({
  name: 'db_client_statements_total',
  help: 'Statements a service sent to its database (within transactions or alone; BEGIN and COMMIT not counted)',
  labelNames: ['db_namespace'],
  registers: [registry],
})

const transactions = new Counter({
  name: 'db_client_transactions_total',
  help: 'Transactions a service ran on its database (committed or rolled back)',
  labelNames: ['db_namespace'],
  registers: [registry],
})

export interface StatementCounter {
  statement(): void
  transaction(): void
}

/** The counters of one schema, labelled once: counting is an addition on the hot path. */
export function countStatements(schema: string): StatementCounter {
  const s = statements.labels({ db_namespace: schema })
  const t = transactions.labels({ db_namespace: schema })
  return { statement: () => s.inc(), transaction: () => t.inc() }
}
