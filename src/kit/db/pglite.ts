import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite, types } from '@electric-sql/pglite'
import { readTemplate } from './pglite-template.ts'
import type { Database, Engine, Sql } from './database.ts'
import { ident } from './database.ts'

interface PgliteTx {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>
  exec(text: string): Promise<unknown>
}

function sqlOf(tx: PgliteTx): Sql {
  return {
    query: async (text, params) => (await tx.query(text, params ? [...params] : undefined)).rows as never,
    exec: async (script) => { await tx.exec(script) },
  }
}

/**
 * PGlite is one connection shared by every service in the process: it serialises work itself,
 * and each unit of work here runs inside its transaction lock with the caller's search_path.
 * The path is set only when it changes, so a run of calls to one service costs no extra statement.
 */
export async function openPglite(dataDir?: string): Promise<Engine> {
  const fresh = dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))
  const template = fresh ? await readTemplate() : undefined
  const pg = await PGlite.create(dataDir, {
    parsers: { [types.INT8]: (value: string) => BigInt(value) },
    ...(template ? { loadDataDir: template } : {}),
  })
  let current: string | undefined

  const inSchema = <T>(schema: string | undefined, fn: (tx: Sql) => Promise<T>): Promise<T> =>
    pg.transaction(async (tx) => {
      try {
        if (schema !== undefined && current !== schema) {
          await tx.exec(`set search_path to ${ident(schema)}`)
          current = schema
        }
        return await fn(sqlOf(tx as unknown as PgliteTx))
      } catch (error) {
        current = undefined // the rollback undid the SET as well
        throw error
      }
    })

  const forSchema = (schema: string): Database => ({
    schema,
    query: (text, params) => inSchema(schema, (tx) => tx.query(text, params)),
    exec: (script) => inSchema(schema, (tx) => tx.exec(script)),
    transaction: (fn) => inSchema(schema, fn),
  })

  return {
    kind: 'pglite',
    forSchema,
    admin: {
      schema: 'public',
      query: (text, params) => inSchema(undefined, (tx) => tx.query(text, params)),
      exec: (script) => inSchema(undefined, (tx) => tx.exec(script)),
      transaction: (fn) => inSchema(undefined, fn),
    },
    close: () => pg.close(),
  }
}
