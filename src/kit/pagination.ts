// Cursor pagination (`?limit&cursor`): the cursor is the sort key of the last item returned,
// opaque to clients, so pages stay stable while rows are inserted before them.
import Type, { type TSchema } from 'typebox'
import { MosaicError } from './errors.ts'
import type { Sql } from './db/database.ts'

/** `?limit`: how many items a page holds, at most `max`; `fallback` when the client names none. */
export const Limit = (max = 100, fallback = 20) => Type.Integer({ minimum: 1, maximum: max, default: fallback })

/** `?cursor`: where the page starts, as the previous page's `nextCursor` said. */
export const Cursor = Type.String({ maxLength: 512, description: 'From `nextCursor` of the previous page' })

/** A page of `item`s; `nextCursor` is null on the last page. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) })

export type CursorKey = readonly (string | number)[]

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The error for a cursor the client made up or mangled. */
export function invalidCursor(): MosaicError {
  return new MosaicError('invalid_parameters', {
    issues: [{ path: '/cursor', code: 'cursor', message: 'is not a cursor this list returned' }],
  })
}

export function decodeCursor(cursor: string, length: number): CursorKey {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(key) && key.length === length && key.every((k) => typeof k === 'string' || typeof k === 'number'))
      return key
  } catch {
    /* reported below */
  }
  throw invalidCursor()
}

/** Takes one row more than asked to know whether another page exists. */
export function page<T>(
  rows: readonly T[],
  limit: number,
  keyOf: (row: T) => CursorKey,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  return { items, nextCursor: rows.length > limit ? encodeCursor(keyOf(items[items.length - 1]!)) : null }
}

export interface NewestFirstList {
  /** Table (or view) to list from. */
  readonly table: string
  /** Columns to select; `*` unless given. */
  readonly columns?: string
  /** The timestamp column ordered by (newest first), with `id` as tie-break. */
  readonly time: string
  /** A SQL condition on $1.. with `params` (tenant, owner, filters). */
  readonly where: string
  readonly params: readonly unknown[]
  readonly limit: number
  readonly cursor?: string | undefined
  /** The ids are uuid: the cursor's id must be one, and is compared as one. */
  readonly uuidIds?: boolean
}

/**
 * A newest-first page of rows. The cursor is the last row's time in microseconds (an ISO string
 * keeps only milliseconds, and rows of one millisecond would repeat or go missing) and its id.
 */
export async function newestFirst<Row extends { id: string }, Out>(
  db: Sql,
  list: NewestFirstList,
  toOut: (row: Row) => Out,
): Promise<{ items: Out[]; nextCursor: string | null }> {
  const args: unknown[] = [...list.params]
  let where = list.where
  if (list.cursor !== undefined) {
    const [us, id] = decodeCursor(list.cursor, 2)
    if (
      typeof us !== 'string' ||
      !/^\d{1,18}$/.test(us) ||
      typeof id !== 'string' ||
      (list.uuidIds && !/^[0-9a-f-]{36}$/.test(id))
    )
      throw invalidCursor()
    args.push(us, id)
    where += ` and (${list.time}, id) < (timestamptz 'epoch' + $${args.length - 1}::bigint * interval '1 microsecond', $${args.length}${list.uuidIds ? '::uuid' : ''})`
  }
  args.push(list.limit + 1)
  const rows = await db.query<Row & { time_us: bigint }>(
    `select ${list.columns ?? '*'}, (extract(epoch from ${list.time}) * 1000000)::bigint as time_us from ${list.table}
     where ${where} order by ${list.time} desc, id desc limit $${args.length}`,
    args,
  )
  const { items, nextCursor } = page(rows, list.limit, (r) => [String(r.time_us), r.id])
  return { items: items.map(toOut), nextCursor }
}
