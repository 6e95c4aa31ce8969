import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { PGlite, types } from '@electric-sql/pglite'
import { copyTemplate, writeTemplate } from './pglite-template.ts'
import type { Database, Engine, Sql } from './database.ts'
import { ident, roleOf } from './database.ts'
import { pgliteStatements, type PgliteStatements } from './pglite-statements.ts'
import { countStatements, type StatementCounter } from './statements.ts'

/**
 * V8 compiles WebAssembly with its baseline compiler first and recompiles a function with its
 * optimising one once it has run "enough" (the tiering budget, about 13 MB of code executed). A
 * start runs PostgreSQL's initialisation and every service's migrations check once: enough to send
 * hundreds of large functions to the optimiser, a second or more of CPU on background threads
 * (which share the core with the start) and some 100 MB of resident memory, for code the start
 * never runs again. Ten times the budget leaves that to the functions requests keep hot; they reach
 * it within the first seconds of load (docs/benchmarks.md: the start and the throughput measured
 * both ways). Read when a module is compiled, so it is set before PGlite's is. An operator's own
 * --wasm-tiering-budget on the command line is left alone.
 */
const WASM_TIERING_BUDGET = 130_000_000
if (!process.execArgv.some((flag) => flag.startsWith('--wasm-tiering-budget')))
  setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`)

/** Statements of `schema`'s session; `synced` outside a transaction (see PgliteStatements.query). */
function sqlOf(on: PgliteStatements, schema: string, count: StatementCounter, synced: boolean): Sql {
  return {
    query: (text, params) => {
      count.statement()
      return on.query(schema, text, params, synced)
    },
    exec: async (script) => {
      count.statement()
      await on.exec(script)
    },
  }
}

/**
 * PGlite is one connection shared by every service in the process. Each unit of work (one
 * statement, or a transaction) runs in turn with the caller's role and search_path, set at session
 * level and only when they change: a run of calls to one service costs no extra statement, and a
 * single statement costs one statement, not a BEGIN/COMMIT around it (three trips into the
 * WebAssembly engine instead of one).
 *
 * Statements go to the engine in one call each, prepared once (pglite-statements.ts). PGlite's lock
 * guards one call; "set the role, then run the statement" is two, and a transaction many, so units
 * of work queue here, those of the session's current schema first (`next`).
 */
/** Units of other schemas the current schema's may overtake in a row before the oldest runs. */
const MAX_OVERTAKEN = 32

export async function openPglite(dataDir?: string, template?: () => Promise<string>): Promise<Engine> {
  if (dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))) {
    // A fresh directory starts as a copy of the `template` named (one with the schemas already
    // migrated: schema-template.ts; asked only here, as naming it reads every migration) if given
    // and there, else of the empty one. No empty one (the install script did not run, or the cache
    // was cleared): made now, once, for this start and the next. Best effort: a read-only
    // node_modules only means PGlite initialises the directory itself, slowly.
    const copied =
      (template !== undefined && (await copyTemplate(dataDir, await template()))) || (await copyTemplate(dataDir))
    if (!copied)
      await writeTemplate().then(
        () => copyTemplate(dataDir),
        () => {},
      )
  }
  const pg = await PGlite.create(dataDir, {
    parsers: { [types.INT8]: (value: string) => BigInt(value) },
    // PostgreSQL's default 128 MB of shared buffers costs a process some 115 MB of resident memory
    // once touched; the files behind them sit in the OS page cache anyway, so an embedded database
    // keeps 16 MB of its own.
    startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'],
  })
  const statements = pgliteStatements(pg)
  // The schema whose role and search_path the session has now; `admin` once reset.
  let current: string | undefined
  // Units of work waiting their turn, and whether one is running (or has been handed the turn).
  const queue: { schema: string | 'admin'; resume: () => void }[] = []
  let busy = false
  // Units of other schemas that the current one's have overtaken in a row (bounded: see `next`).
  let overtaken = 0

  const switchTo = (schema: string | 'admin'): string[] =>
    schema === 'admin'
      ? ['reset role', 'reset search_path']
      : [`set role ${ident(roleOf(schema))}`, `set search_path to ${ident(schema)}`]

  /**
   * A transaction's BEGIN carries the switch to its schema, if it needs one: one trip into the
   * engine rather than two. The SETs then belong to the transaction, and a rollback undoes them, so
   * after one the session's schema is unknown and the next unit of work sets it again (failures are
   * rare; PGlite's own `transaction` cannot take the SETs, hence BEGIN and COMMIT sent here).
   */
  const transaction = async <T>(schema: string | 'admin', count: StatementCounter, fn: (on: Sql) => Promise<T>) => {
    count.transaction()
    const switching = current !== schema
    if (switching) {
      count.statement()
      current = undefined
    }
    await statements.commands(switching ? [...switchTo(schema), 'begin'] : ['begin'], false)
    let result: T
    try {
      current = schema
      result = await fn(sqlOf(statements, schema, count, false))
    } catch (error) {
      current = undefined
      await statements.commands(['rollback'], true)
      throw error
    }
    // A statement that failed inside `fn`, its error caught there, leaves the transaction aborted:
    // COMMIT then rolls back, and the caller must not think it took effect.
    const [outcome] = await statements.commands(['commit'], true).catch((error: unknown) => {
      current = undefined // a COMMIT that fails rolls back, and the SETs of its BEGIN with it
      throw error
    })
    if (outcome !== 'COMMIT') {
      current = undefined
      throw new Error('the transaction was rolled back: a statement in it failed')
    }
    return result
  }

  const inSchema = async <T>(
    schema: string | 'admin',
    count: StatementCounter,
    fn: (on: Sql) => Promise<T>,
    isTransaction: boolean,
  ): Promise<T> => {
    // Waits its turn here, in the caller's own async function, so that it runs in the caller's
    // context (its trace), not in that of the unit before it, which hands the turn over.
    if (busy) await new Promise<void>((resume) => queue.push({ schema, resume }))
    busy = true
    try {
      return await unit()
    } finally {
      if (queue.length > 0) next().resume()
      else busy = false
    }

    async function unit(): Promise<T> {
      if (isTransaction) return transaction(schema, count, fn)
      if (current !== schema) {
        current = undefined // a SET that fails leaves the session's state unknown: set it again next time
        count.statement()
        await statements.commands(switchTo(schema), true)
        current = schema
      }
      // Session-level SETs outlive a failed statement. A unit of work that changed them itself
      // (nothing here does) would leave `current` wrong.
      return fn(sqlOf(statements, schema, count, true))
    }
  }

  /**
   * The next unit of work: the first one waiting in the session's current schema if there is one,
   * so a switch (and its SETs) serves every unit of that schema queued by then; else the oldest.
   * Units of one schema keep their order; units of different schemas were concurrent, unordered.
   * Overtaking is bounded so a busy schema cannot hold the others back for long.
   */
  const next = (): (typeof queue)[number] => {
    const same = overtaken < MAX_OVERTAKEN ? queue.findIndex((u) => u.schema === current) : -1
    overtaken = same > 0 ? overtaken + 1 : 0
    return queue.splice(Math.max(same, 0), 1)[0]!
  }

  const databaseOf = (schema: string | 'admin'): Database => {
    const name = schema === 'admin' ? 'public' : schema
    const count = countStatements(name)
    return {
      schema: name,
      query: (text, params) => inSchema(schema, count, (on) => on.query(text, params), false),
      exec: (script) => inSchema(schema, count, (on) => on.exec(script), false),
      transaction: (fn) => inSchema(schema, count, fn, true),
    }
  }

  return {
    kind: 'pglite',
    forSchema: databaseOf,
    admin: databaseOf('admin'),
    close: () => pg.close(),
  }
}
