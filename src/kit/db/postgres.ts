import postgres from 'postgres'
import type { Database, Engine, Sql } from './database.ts'
import { roleOf } from './database.ts'
import { meterPool, type PoolMeter } from './pool-metrics.ts'
import { countStatements, type StatementCounter } from './statements.ts'

type Client = postgres.Sql<{ bigint: bigint }>

function sqlOf(client: postgres.Sql<never> | postgres.TransactionSql<never>, count: StatementCounter): Sql {
  return {
    // A plain array, as PGlite gives: postgres.js's Result subclass would compare unequal in tests.
    // Prepared (named, cached per connection): `unsafe` defaults to unnamed statements, which
    // postgres.js sends as Parse/Describe, waits for the parameter types, then Bind/Execute: two
    // round trips per statement every time. Prepared, a statement costs one round trip after its
    // first use, and the server skips parsing and planning it again. Every statement text is
    // built from constants (values are always $n parameters), so the cache stays small.
    query: async (text, params) => {
      count.statement()
      return [...(await client.unsafe(text, (params ?? []) as never[], { prepare: true }))] as never
    },
    exec: async (script) => {
      count.statement()
      await client.unsafe(script).simple()
    },
  }
}

export interface PostgresOptions {
  /** Connections per service schema. */
  readonly poolSize?: number
}

/** A PostgreSQL server: one small pool per service, its role and search_path fixed at connect. */
export function openPostgres(url: string, options: PostgresOptions = {}): Engine {
  const { poolSize = 10 } = options
  const clients: Client[] = []
  const meters: PoolMeter[] = []
  const connect = (schema?: string): Client => {
    const client = postgres(url, {
      max: poolSize,
      onnotice: () => {},
      types: { bigint: postgres.BigInt },
      connection: schema
        ? { role: roleOf(schema), search_path: schema, application_name: `mosaic-${schema}` }
        : { application_name: 'mosaic' },
    })
    clients.push(client)
    return client
  }
  const databaseOf = (schema: string, client: Client): Database => {
    const meter = meterPool(`${new URL(url).pathname.slice(1)}.${schema}`, poolSize)
    meters.push(meter)
    const count = countStatements(schema)
    const sql = sqlOf(client as never, count)
    return {
      schema,
      query: (text, params) => meter.using(() => sql.query(text, params)),
      exec: (script) => meter.using(() => sql.exec(script)),
      transaction: (fn) =>
        meter.using(async () => {
          const asked = performance.now()
          const tx = await client.reserve()
          meter.acquired(asked)
          count.transaction()
          // Hand-written rather than postgres.js's `begin`, which waits for BEGIN's answer before
          // sending the first statement: here BEGIN is sent and not waited for, so it leaves in
          // one write with the transaction's first statement (postgres.js coalesces what is written
          // before the next turn of the event loop), a round trip saved per transaction. It is
          // awaited before COMMIT, so a BEGIN that failed fails the transaction.
          const begun = tx.unsafe('begin').simple().execute()
          begun.catch(() => {}) // it is awaited below; until then, not an unhandled rejection
          try {
            const result = await fn(sqlOf(tx as never, count))
            await begun
            await tx.unsafe('commit').simple()
            return result
          } catch (error) {
            await begun.catch(() => {})
            await tx
              .unsafe('rollback')
              .simple()
              .catch(() => {})
            throw error
          } finally {
            tx.release()
          }
        }),
    }
  }
  const pools = new Map<string, Database>()
  return {
    kind: 'postgres',
    forSchema(schema) {
      let db = pools.get(schema)
      if (!db) pools.set(schema, (db = databaseOf(schema, connect(schema))))
      return db
    },
    admin: databaseOf('public', connect()),
    close: async () => {
      for (const meter of meters) meter.close()
      await Promise.all(clients.map((c) => c.end({ timeout: 5 })))
    },
  }
}
