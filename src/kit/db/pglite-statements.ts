import { type PGlite, messages, parse, protocol } from '@electric-sql/pglite'
import { LRUCache } from 'lru-cache'
import type { Row } from './database.ts'

/**
 * Statements sent to PGlite the way a driver sends them to a server: a statement's extended-protocol
 * messages in one call into the engine, and each statement text prepared once (a named statement)
 * per schema.
 *
 * PGlite's own `query` makes six calls for one statement (Parse, Describe, Bind, Describe, Execute,
 * Sync, each a trip through its JavaScript and the WebAssembly engine) and has PostgreSQL parse and
 * plan the text every time. Here a statement already prepared is one call (Bind, Execute, Sync), and
 * PostgreSQL reuses its parse tree (and, once its plan cache judges it as good, its plan). Messages
 * are built by the serializer PGlite uses and answers parsed by its own parser
 * (`execProtocolStream`); rows are built by its own `parseResults` with its type parsers, so rows,
 * type parsing and errors are those of `query`.
 */

/** Statements kept prepared per engine; the least recently used is closed beyond it. */
const MAX_PREPARED = 500

interface Prepared {
  readonly name: string
  /** The parameter types PostgreSQL inferred: values are serialised for them, as `query` does. */
  readonly types: readonly number[]
  /** The result's columns (none for a statement without rows); fixed for a prepared statement. */
  readonly description: messages.RowDescriptionMessage | undefined
}

export interface PgliteStatements {
  /**
   * Runs one parameterised statement as the session is now (its role and search_path: `scope`
   * names them, for statements are prepared per scope). `synced`: outside a transaction, PGlite's
   * file system is synced after it, as after `query`.
   */
  query<T = Row>(scope: string, text: string, params: readonly unknown[] | undefined, synced: boolean): Promise<T[]>
  /** A script of several statements (simple protocol), as PGlite's `exec`; it may change tables. */
  exec(script: string): Promise<{ command?: string }[]>
}

/** The commands whose statements change no table, role or setting: others make prepared ones stale. */
const PLANNABLE = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE'])

export function pgliteStatements(pg: PGlite): PgliteStatements {
  let named = 0
  // Names of statements dropped from the cache, closed at the start of the next call into the engine.
  let unused: string[] = []
  const prepared = new LRUCache<string, Prepared>({
    max: MAX_PREPARED,
    dispose: (statement) => unused.push(statement.name),
  })

  /**
   * A prepared statement reads its tables' columns as they were when it was prepared; PostgreSQL
   * refuses to run it once its result's shape changed ("cached plan must not change result type").
   * Tables change in scripts (migrations) and in statements other than SELECT/INSERT/UPDATE/DELETE,
   * so after one every statement is prepared again.
   */
  const forgetAll = (): void => prepared.clear()

  /** Closes of the statements dropped since the last call, sent first in the next one. */
  const closes = (): Uint8Array[] => {
    if (unused.length === 0) return []
    const messages = unused.map((name) => protocol.serialize.close({ type: 'S', name }))
    unused = []
    return messages
  }

  const send = (parts: Uint8Array[], synced: boolean): Promise<messages.BackendMessage[]> =>
    pg.execProtocolStream(Buffer.concat(parts), { syncToFs: synced })

  const serialise = (types: readonly number[], params: readonly unknown[]): (string | null)[] =>
    // As PGlite's `query`: by the type PostgreSQL inferred for the parameter, else its string.
    params.map((param, i) => {
      if (param === null || param === undefined) return null
      const serialiser = pg.serializers[types[i]!]
      return serialiser ? serialiser(param) : (param as object).toString()
    })

  const described = (answer: messages.BackendMessage[]): Omit<Prepared, 'name'> => ({
    types: parse.parseDescribeStatementResults(answer),
    description: answer.find((m): m is messages.RowDescriptionMessage => m.name === 'rowDescription'),
  })

  const execute = (statement: Prepared, params: readonly unknown[]): Uint8Array[] => [
    protocol.serialize.bind({ statement: statement.name, values: serialise(statement.types, params) }),
    protocol.serialize.execute(),
    protocol.serialize.sync(),
  ]

  const run = async <T>(
    scope: string,
    text: string,
    params: readonly unknown[],
    synced: boolean,
  ): Promise<T[]> => {
    const key = `${scope}:${text}`
    let statement = prepared.get(key)
    let answer: messages.BackendMessage[]
    if (statement) answer = await send([...closes(), ...execute(statement, params)], synced)
    else {
      const name = `m${++named}`
      const prepare = [
        ...closes(),
        protocol.serialize.parse({ name, text }),
        protocol.serialize.describe({ type: 'S', name }),
      ]
      if (params.length === 0) {
        // Nothing to serialise: prepared and run in the same call. Should the run fail, the
        // statement is closed (its answer, and whether it was prepared, is not known then).
        const both = await send([...prepare, ...execute({ name, types: [], description: undefined }, [])], synced).catch(
          (error: unknown) => {
            unused.push(name)
            throw error
          },
        )
        statement = { name, ...described(both) }
        prepared.set(key, statement)
        return rowsOf(both)
      } else {
        statement = { name, ...described(await send([...prepare, protocol.serialize.sync()], false)) }
        prepared.set(key, statement)
        answer = await send([...closes(), ...execute(statement, params)], synced)
      }
    }
    return rowsOf(statement.description ? [statement.description, ...answer] : answer)
  }

  const rowsOf = <T>(answer: messages.BackendMessage[]): T[] => {
    const [result] = parse.parseResults(answer, pg.parsers)
    if (result?.command !== undefined && !PLANNABLE.has(result.command)) forgetAll()
    return result!.rows as T[]
  }

  return {
    query: async <T>(scope: string, text: string, params: readonly unknown[] = [], synced = true) => {
      if (!pg.ready) await pg._checkReady() // throws as `query` would once PGlite is closing or closed
      // One caller at a time, as in PGlite's `query`: statements of one transaction may be sent
      // concurrently, and each call's answer is gathered in PGlite's state until it returns.
      return pg
        .runExclusive(() => run<T>(scope, text, params, synced))
        .catch((error: unknown) => {
          throw asQueryError(error, text, params)
        })
    },
    exec: async (script) => {
      try {
        return await pg.exec(script)
      } finally {
        forgetAll()
      }
    },
  }
}

/** PostgreSQL's error as PGlite's `query` throws it: with the statement and its parameters. */
function asQueryError(error: unknown, query: string, params: readonly unknown[]): unknown {
  if (error instanceof messages.DatabaseError) Object.assign(error, { query, params, queryOptions: undefined })
  return error
}
