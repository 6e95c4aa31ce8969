import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite, types } from '@electric-sql/pglite'
import { readTemplate, writeTemplate } from './pglite-template.ts'
import type { Database, Engine, Sql } from './database.ts'
import { ident, roleOf } from './database.ts'

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
 * and each unit of work here runs inside its transaction lock with the caller's role and
 * search_path. They are set only when they change, so a run of calls to one service costs no
 * extra statement.
 */
export async function openPglite(dataDir?: string): Promise<Engine> {
  const fresh = dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))
  const template = fresh ? await readTemplate() : undefined
  const pg = await PGlite.create(dataDir, {
    parsers: { [types.INT8]: (value: string) => BigInt(value) },
    ...(template ? { loadDataDir: template } : {}),
  })
  // No template (the install script did not run, or the cache was cleared): this directory was just
  // initialised and is still empty, so it becomes the template for the next fresh start. Best effort:
  // a read-only node_modules only means the next fresh start is slow too.
  if (fresh && !template) await writeTemplate(pg).catch(() => {})
  // The schema whose role and search_path the connection has now; `admin` once reset.
  let current: string | undefined

  const inSchema = <T>(schema: string | 'admin', fn: (tx: Sql) => Promise<T>): Promise<T> =>
    pg.transaction(async (tx) => {
      try {
        if (current !== schema) {
          await tx.exec(schema === 'admin' ? 'reset role; reset search_path' : `set role ${ident(roleOf(schema))}; set search_path to ${ident(schema)}`)
          current = schema
        }
        return await fn(sqlOf(tx as unknown as PgliteTx))
      } catch (error) {
        current = undefined // the rollback undid the SETs as well
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
      query: (text, params) => inSchema('admin', (tx) => tx.query(text, params)),
      exec: (script) => inSchema('admin', (tx) => tx.exec(script)),
      transaction: (fn) => inSchema('admin', fn),
    },
    close: () => pg.close(),
  }
}
