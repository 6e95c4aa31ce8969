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

const sync = protocol.serialize.sync()

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
  /**
   * Runs statements without parameters or rows (SET, BEGIN, COMMIT) in one call, and returns their
   * command tags (COMMIT's is ROLLBACK when the transaction had failed). The first that fails stops
   * the rest, and its error is thrown; outside a transaction they commit or roll back together.
   */
  commands(texts: readonly string[], synced: boolean): Promise<string[]>
  /** A script of several statements (simple protocol), as PGlite's `exec`; it may change tables. */
  exec(script: string): Promise<void>
}

/**
 * Commands that change no table (nor any prepared statement's columns); after any other, such as
 * CREATE or ALTER, statements are prepared again.
 */
const SHAPE_KEEPING = new Set([
  ...['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE'],
  ...['SET', 'RESET', 'SHOW', 'BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE'],
])

export function pgliteStatements(pg: PGlite): PgliteStatements {
  let named = 0
  // Names of statements dropped from the cache, closed at the start of the next call into the engine.
  let unused: string[] = []
  const prepared = new LRUCache<string, Prepared>({
    max: MAX_PREPARED,
    dispose: (statement) => unused.push(statement.name),
  })

  /**
   * A prepared statement keeps the columns its tables had when it was prepared; PostgreSQL refuses
   * to run it once its result's shape changed ("cached plan must not change result type"). Tables
   * change in scripts (migrations) and in statements such as ALTER, so after one every statement is
   * prepared again.
   */
  const forgetAll = (): void => prepared.clear()

  /** Closes of the statements dropped since the last call, sent first in the next one. */
  const closes = (): Uint8Array[] => {
    if (unused.length === 0) return []
    const messages = unused.map((name) => protocol.serialize.close({ type: 'S', name }))
    unused = []
    return messages
  }

  // PGlite's `query` holds this lock too: statements of one transaction may be sent concurrently,
  // and each call's answer is gathered in PGlite's state until it returns.
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

  const execute = (name: string, values: (string | null)[] = []): Uint8Array[] => [
    protocol.serialize.bind({ statement: name, values }),
    protocol.serialize.execute(),
  ]

  /** A statement prepared and run in the same call: if the call fails, whether it was prepared is not known. */
  const closeIfFailed = <T>(call: Promise<T>, names: string[]): Promise<T> =>
    names.length === 0
      ? call
      : call.catch((error: unknown) => {
          unused.push(...names)
          throw error
        })

  const rowsOf = <T>(answer: messages.BackendMessage[]): T[] => {
    const [result] = parse.parseResults(answer, pg.parsers)
    if (result?.command !== undefined && !SHAPE_KEEPING.has(result.command)) forgetAll()
    return result!.rows as T[]
  }

  const run = async <T>(key: string, text: string, params: readonly unknown[], synced: boolean): Promise<T[]> => {
    const statement = prepared.get(key)
    if (statement) {
      const answer = await send(
        [...closes(), ...execute(statement.name, serialise(statement.types, params)), sync],
        synced,
      )
      return rowsOf(statement.description ? [statement.description, ...answer] : answer)
    }
    const name = `m${++named}`
    const prepare = [
      ...closes(),
      protocol.serialize.parse({ name, text }),
      protocol.serialize.describe({ type: 'S', name }),
    ]
    if (params.length === 0) {
      // Nothing to serialise: prepared and run in the same call.
      const answer = await closeIfFailed(send([...prepare, ...execute(name), sync], synced), [name])
      prepared.set(key, { name, ...described(answer) })
      return rowsOf(answer)
    }
    // The values are serialised for the types PostgreSQL infers, which the statement's description says.
    const fresh = { name, ...described(await send([...prepare, sync], false)) }
    prepared.set(key, fresh)
    return run(key, text, params, synced)
  }

  const runCommands = async (texts: readonly string[], synced: boolean): Promise<string[]> => {
    const parts = closes()
    const fresh: [string, Prepared][] = []
    for (const text of texts) {
      // Commands read no table: one prepared statement serves every schema.
      const key = `:${text}`
      let statement = prepared.get(key)
      if (!statement) {
        statement = { name: `m${++named}`, types: [], description: undefined }
        parts.push(protocol.serialize.parse({ name: statement.name, text }))
        fresh.push([key, statement])
      }
      parts.push(...execute(statement.name))
    }
    parts.push(sync)
    const answer = await closeIfFailed(
      send(parts, synced),
      fresh.map(([, statement]) => statement.name),
    )
    for (const [key, statement] of fresh) prepared.set(key, statement)
    return parse.parseResults(answer, pg.parsers).map((result) => result.command!)
  }

  return {
    query: async <T>(scope: string, text: string, params: readonly unknown[] = [], synced = true) => {
      if (!pg.ready) await pg._checkReady() // refused once PGlite is closing or closed, as by `query`
      const key = `${scope}:${text}`
      try {
        return await pg.runExclusive(() => run<T>(key, text, params, synced))
      } catch (error) {
        throw asQueryError(error, text, params, () => prepared.delete(key))
      }
    },
    commands: async (texts, synced) => {
      if (!pg.ready) await pg._checkReady()
      return pg.runExclusive(() => runCommands(texts, synced))
    },
    exec: async (script) => {
      try {
        await pg.exec(script)
      } finally {
        forgetAll()
      }
    },
  }
}

/**
 * PostgreSQL's error as PGlite's `query` throws it: with the statement and its parameters. A
 * statement whose tables changed in a way not seen here (in a function, say) is prepared again the
 * next time (`stale`).
 */
function asQueryError(error: unknown, query: string, params: readonly unknown[], stale: () => void): unknown {
  if (!(error instanceof messages.DatabaseError)) return error
  if (error.code === '0A000' && error.message.includes('cached plan')) stale()
  return Object.assign(error, { query, params, queryOptions: undefined })
}
