// Cursor pagination (`?limit&cursor`): the cursor is the sort key of the last item returned,
// opaque to clients, so pages stay stable while rows are inserted before them.
import { MosaicError } from './errors.ts'

export type CursorKey = readonly (string | number)[]

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The error for a cursor the client made up or mangled. */
export function invalidCursor(): MosaicError {
  return new MosaicError('invalid_parameters', { issues: [{ path: '/cursor', code: 'cursor', message: 'is not a cursor this list returned' }] })
}

export function decodeCursor(cursor: string, length: number): CursorKey {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(key) && key.length === length && key.every((k) => typeof k === 'string' || typeof k === 'number')) return key
  } catch { /* reported below */ }
  throw invalidCursor()
}

/** Takes one row more than asked to know whether another page exists. */
export function page<T>(rows: readonly T[], limit: number, keyOf: (row: T) => CursorKey): { items: T[], nextCursor: string | null } {
  const items = rows.slice(0, limit)
  return { items, nextCursor: rows.length > limit ? encodeCursor(keyOf(items[items.length - 1]!)) : null }
}
