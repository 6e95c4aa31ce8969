// The data API every service sees. PostgreSQL dialect everywhere: PGlite (embedded) and a
// PostgreSQL server (distributed) sit behind the same two methods, and int8 comes back as
// bigint from both so money arithmetic stays exact.

export type Row = Record<string, unknown>

export interface Sql {
  /** One parameterised statement ($1, $2, ...); returns the rows. */
  query<T = Row>(text: string, params?: readonly unknown[]): Promise<T[]>
  /** A script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>
}

export interface Database extends Sql {
  /** The schema unqualified names resolve in: a service sees only its own. */
  readonly schema: string
  /** Runs `fn` in one transaction: committed when it returns, rolled back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>
}

/** One physical database (a PGlite instance, or a PostgreSQL connection string). */
export interface Engine {
  readonly kind: 'pglite' | 'postgres'
  /** A handle scoped to `schema`; the schema must exist (migrations create it). */
  forSchema(schema: string): Database
  /** Runs statements that may span schemas (the embedded event bus; schema creation). */
  admin: Database
  close(): Promise<void>
}

/**
 * The database role a service's work runs as: it owns the service's schema and has no rights on any
 * other, so "a service reaches only its own tables" is enforced by PostgreSQL, not by convention.
 */
export function roleOf(schema: string): string {
  return `svc_${schema}`
}

/** Schema names are identifiers we build from service names; quote them to be safe anyway. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid identifier ${name}`)
  return `"${name}"`
}
