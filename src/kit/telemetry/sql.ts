// A CLIENT span per SQL statement a service runs, with the operation and the statement's text.
// The text is already sanitised: every value travels as a $n parameter (the kit's rule), so
// parameters are never recorded.
import type { Sql } from '../db/database.ts'
import { withSpan, recording, SpanKind } from './tracing.ts'

const MAX_TEXT = 2000

/** `select ...` → `SELECT`; a `with` query is named by what it does last only in its text. */
function operationOf(text: string): string {
  return (/^\s*(\w+)/.exec(text)?.[1] ?? 'QUERY').toUpperCase()
}

export function tracedSql<S extends Sql>(sql: S, service: string, schema: string): S {
  return {
    ...sql,
    query: (text: string, params?: readonly unknown[]) => {
      // Only as part of something traced: a loop polling a table would otherwise start a trace per poll.
      // And only when recorded: a statement's span has no children, so one that is not recorded
      // (no exporter, or sampled out) carries nothing anywhere, and costs a checkout ~100 spans.
      if (!recording()) return sql.query(text, params)
      const operation = operationOf(text)
      return withSpan(
        `${operation} ${schema}`,
        {
          kind: SpanKind.CLIENT,
          service,
          attributes: {
            'db.system.name': 'postgresql',
            'db.namespace': schema,
            'db.operation.name': operation,
            'db.query.text': text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text,
          },
        },
        () => sql.query(text, params),
      )
    },
  }
}
