// Newest-first cursor pages of a tenant's rows (payments, invoices): the cursor is the last row's
// time in microseconds (an ISO string keeps only milliseconds, and rows would repeat) and its id.
import { decodeCursor, invalidCursor, page, type Sql } from '../../kit/index.ts'

export interface ListQuery { readonly limit: number, readonly cursor?: string }

/** `filter` is a SQL condition on $1.. with `params`; `time` the column ordered by. */
export async function newestFirst<Row extends { id: string }, Out>(
  db: Sql, table: string, time: string, filter: string, params: readonly unknown[], query: ListQuery, toOut: (row: Row) => Out,
): Promise<{ items: Out[], nextCursor: string | null }> {
  const args: unknown[] = [...params]
  let where = filter
  if (query.cursor !== undefined) {
    const [us, id] = decodeCursor(query.cursor, 2)
    if (typeof us !== 'string' || !/^\d{1,18}$/.test(us) || typeof id !== 'string') throw invalidCursor()
    args.push(us, id)
    where += ` and (${time}, id) < (timestamptz 'epoch' + $${args.length - 1}::bigint * interval '1 microsecond', $${args.length})`
  }
  args.push(query.limit + 1)
  const rows = await db.query<Row & { time_us: bigint }>(
    `select *, (extract(epoch from ${time}) * 1000000)::bigint as time_us from ${table} where ${where} order by ${time} desc, id desc limit $${args.length}`, args)
  const { items, nextCursor } = page(rows, query.limit, (r) => [String(r.time_us), r.id])
  return { items: items.map(toOut), nextCursor }
}
