// A fresh embedded database starts as a copy of a template. The empty one (pglite-template.ts)
// leaves every service's migrations to the first start: some 1.5 s of CPU on top of a restart's.
// This one holds the schemas a process will use with their migrations already applied (roles,
// schemas, tables, each schema's migrations mark), so a first start finds nothing pending, as a
// restart does. Only what migrations make goes in: seeds, signing keys and administrators are
// each data directory's own, made at its first start.
//
// Keyed by PGlite's version (the empty template's path) and a digest of each schema's name and
// migrations: a new, edited or removed migration names another template, and until that one is
// made (`npm install`, scripts/prepare-start.ts) fresh starts take the empty one and migrate.
// (The copy's mosaic_migrations rows say when the template was migrated, not the data directory.)
import { createHash } from 'node:crypto'
import { readdir, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { openPglite } from './pglite.ts'
import { buildTemplate, templatePath } from './pglite-template.ts'
import { markOf, migrate, readAllMigrations, type MigrationSource } from './migrations.ts'

export interface TemplateSchema {
  readonly schema: string
  readonly sources: readonly MigrationSource[]
}

/** Where the template for exactly these schemas and their migrations is kept (node_modules/.cache/mosaic). */
export async function schemaTemplatePath(schemas: readonly TemplateSchema[]): Promise<string> {
  const hash = createHash('sha256')
  const sorted = [...schemas].sort((a, b) => (a.schema < b.schema ? -1 : a.schema > b.schema ? 1 : 0))
  for (const { schema, sources } of sorted) hash.update(`${schema}: ${markOf(await readAllMigrations(sources))}\n`)
  return `${templatePath}-schemas-${hash.digest('hex').slice(0, 16)}`
}

/** Migrates a copy of the empty template into the template for `schemas`; returns its path. */
export async function writeSchemaTemplate(schemas: readonly TemplateSchema[]): Promise<string> {
  return buildTemplate(await schemaTemplatePath(schemas), async (dir) => {
    const engine = await openPglite(dir)
    try {
      for (const { schema, sources } of schemas) await migrate(engine, schema, sources)
      // A copy's cost is its files (some 0.6 ms of system CPU each here; the 16 MB of WAL are one
      // file and nearly free), and half of them are the template0 and template1 databases, which
      // only CREATE DATABASE uses: never run on an embedded database. Without them the copy takes
      // about half the CPU (docs/benchmarks.md).
      // (One statement per call: several in one run as one transaction, which DROP DATABASE refuses.)
      await engine.admin.exec(
        "update pg_database set datistemplate = false where datname in ('template0', 'template1')",
      )
      for (const database of ['template0', 'template1']) await engine.admin.exec(`drop database ${database}`)
    } finally {
      await engine.close()
    }
  })
}

/**
 * Removes the templates made for other migrations (41 MB each): an install keeps only the one it
 * made, not one for every set of migrations the checkout ever had. A start copying one of them
 * meanwhile finds it gone and takes the empty template.
 */
export async function removeOtherSchemaTemplates(keep: string): Promise<void> {
  const prefix = `${basename(templatePath)}-schemas-`
  for (const name of await readdir(dirname(templatePath)))
    if (name.startsWith(prefix) && name !== basename(keep))
      await rm(join(dirname(templatePath), name), { recursive: true, force: true })
}
