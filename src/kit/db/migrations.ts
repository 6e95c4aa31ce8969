// Plain-SQL migrations: files named NNN_description.sql, applied in order at start (a service's
// pending ones in one transaction), recorded with a checksum. Editing a migration that has been
// applied is an error: write a new one instead.
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import type { Engine } from './database.ts'
import { ident, roleOf } from './database.ts'

export interface MigrationSource {
  /** Who owns these migrations inside the schema: `kit` for platform tables, the service name for its own. */
  readonly owner: string
  readonly dir: URL
}

export interface Migration {
  readonly owner: string
  readonly version: number
  readonly name: string
  readonly sql: string
  readonly checksum: string
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MigrationError'
  }
}

export async function readMigrations(source: MigrationSource): Promise<Migration[]> {
  const files = (await readdir(source.dir)).filter((f) => f.endsWith('.sql')).sort()
  const migrations: Migration[] = []
  for (const name of files) {
    const match = /^(\d+)_[\w-]+\.sql$/.exec(name)
    if (!match) throw new MigrationError(`${source.owner}: migration file ${name} must be named NNN_description.sql`)
    const version = Number(match[1])
    if (migrations.some((m) => m.version === version))
      throw new MigrationError(`${source.owner}: two migrations numbered ${version}`)
    const sql = await readFile(new URL(name, source.dir), 'utf8')
    migrations.push({
      owner: source.owner,
      version,
      name,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    })
  }
  return migrations
}

/** Every source's migrations, in the order they apply. */
export async function readAllMigrations(sources: readonly MigrationSource[]): Promise<Migration[]> {
  return (await Promise.all(sources.map(readMigrations))).flat()
}

interface Applied {
  owner: string
  version: number
  name: string
  checksum: string
}

/**
 * The schema and the role that owns it. Roles are global to a PostgreSQL server, so creating one
 * is serialised across processes; the connecting user needs CREATEROLE (or the role made for it).
 */
async function createSchema(engine: Engine, schema: string): Promise<void> {
  const role = roleOf(schema)
  await engine.admin.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(hashtext($1))', ['mosaic-roles'])
    const [exists] = await tx.query('select 1 from pg_roles where rolname = $1', [role])
    if (!exists) await tx.exec(`create role ${ident(role)} nologin`)
    await tx.exec(
      `grant ${ident(role)} to current_user; create schema if not exists ${ident(schema)} authorization ${ident(role)}`,
    )
  })
}

/**
 * A schema's mark: the digest of the migrations applied to it (owners, versions, checksums), kept as
 * the schema's comment, written in the transaction that applies them. It lives and dies with the
 * schema, and a database restored from a dump keeps it.
 */
export function markOf(migrations: readonly Migration[]): string {
  const hash = createHash('sha256')
  for (const m of migrations) hash.update(`${m.owner}/${m.version}/${m.checksum}\n`)
  return `mosaic migrations ${hash.digest('hex')}`
}

/**
 * Creates `schema` if needed and applies what is pending; returns the names applied now. All of a
 * service's pending migrations run in one transaction: they apply together or not at all (DDL is
 * transactional in PostgreSQL).
 *
 * A restart usually finds everything applied, which one statement shows: the schema's mark names
 * exactly these migrations, and this connection's user may act as the schema's role. Anything
 * else (a new migration, an edited one, another database user, no schema yet) takes the full
 * path, with its checks and errors; the mark spares a start some ten statements per service.
 */
export async function migrate(engine: Engine, schema: string, sources: readonly MigrationSource[]): Promise<string[]> {
  const all = await readAllMigrations(sources)
  const mark = markOf(all)
  const [state] = await engine.admin.query<{ done: boolean | null }>(
    `select obj_description(to_regnamespace($1), 'pg_namespace') = $2
       and coalesce(pg_has_role(current_user, to_regrole($3), 'member'), false) as done`,
    [schema, mark, roleOf(schema)],
  )
  if (state?.done) return []
  await createSchema(engine, schema)
  return engine.forSchema(schema).transaction(async (tx) => {
    // Replicas starting together take turns; PGlite has one connection and needs no lock.
    if (engine.kind === 'postgres')
      await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`mosaic-migrate:${schema}`])
    await tx.exec(`create table if not exists mosaic_migrations (
      owner text not null, version int not null, name text not null, checksum text not null,
      applied_at timestamptz not null default now(), primary key (owner, version))`)
    const applied = new Map(
      (await tx.query<Applied>('select owner, version, name, checksum from mosaic_migrations')).map((a) => [
        `${a.owner}/${a.version}`,
        a,
      ]),
    )
    const appliedNow: string[] = []
    for (const m of all) {
      const done = applied.get(`${m.owner}/${m.version}`)
      if (done) {
        if (done.checksum !== m.checksum) {
          throw new MigrationError(
            `${schema}: migration ${m.owner}/${m.name} was changed after it was applied; add a new migration instead`,
          )
        }
        continue
      }
      await tx.exec(m.sql)
      await tx.query('insert into mosaic_migrations (owner, version, name, checksum) values ($1, $2, $3, $4)', [
        m.owner,
        m.version,
        m.name,
        m.checksum,
      ])
      appliedNow.push(`${m.owner}/${m.name}`)
    }
    await tx.exec(`comment on schema ${ident(schema)} is '${mark}'`) // hexadecimal: nothing to escape
    return appliedNow
  })
}
