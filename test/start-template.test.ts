// A fresh `mosaic start` copies a PGlite template with every service's schema already migrated
// (kit/db/schema-template.ts). What it copies must be what migrating from scratch makes, keyed so
// that another set of migrations never uses it, and nothing in it may be one instance's own: each
// data directory still makes its own signing key and seeds at its first start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { openPglite } from '../src/kit/db/pglite.ts'
import { migrate } from '../src/kit/db/migrations.ts'
import type { Engine } from '../src/kit/db/database.ts'
import {
  removeOtherSchemaTemplates,
  schemaTemplatePath,
  writeSchemaTemplate,
  type TemplateSchema,
} from '../src/kit/db/schema-template.ts'
import { templatePath } from '../src/kit/db/pglite-template.ts'
import { embeddedSchemas } from '../src/runtime/embedded-schemas.ts'
import { topology } from '../src/runtime/topology.ts'
import { cli, spawnNode, tempDataDir } from './process.ts'

/** What `mosaic start` runs with no configuration: every service, the embedded bus. */
const schemas = embeddedSchemas(
  topology.map((s) => s.definition),
  true,
)
const SYSTEM = `not in ('pg_catalog', 'information_schema', 'pg_toast')`

/** Everything migrations make, by name (object ids differ from one database to another, and are left out). */
async function catalogOf(engine: Engine): Promise<Record<string, unknown[]>> {
  const q = (sql: string): Promise<unknown[]> => engine.admin.query(sql)
  const snapshot: Record<string, unknown[]> = {
    schemas: await q(`select nspname, pg_get_userbyid(nspowner) as owner, obj_description(oid, 'pg_namespace') as mark
      from pg_namespace where nspname ${SYSTEM} and nspname not like 'pg_temp%' and nspname not like 'pg_toast%' order by 1`),
    roles: await q(`select rolname, rolcanlogin from pg_roles order by 1`),
    tables: await q(`select schemaname, tablename, tableowner from pg_tables where schemaname ${SYSTEM} order by 1, 2`),
    columns: await q(`select table_schema, table_name, column_name, data_type, column_default, is_nullable
      from information_schema.columns where table_schema ${SYSTEM} order by 1, 2, ordinal_position`),
    constraints:
      await q(`select connamespace::regnamespace::text as schema, conrelid::regclass::text as on_table, conname,
      pg_get_constraintdef(oid) as definition from pg_constraint where connamespace::regnamespace::text ${SYSTEM} order by 1, 2, 3`),
    indexes: await q(`select schemaname, indexname, indexdef from pg_indexes where schemaname ${SYSTEM} order by 1, 2`),
    functions:
      await q(`select pronamespace::regnamespace::text as schema, proname, pg_get_functiondef(oid) as definition
      from pg_proc where pronamespace::regnamespace::text ${SYSTEM} order by 1, 2, 3`),
    triggers: await q(`select tgrelid::regclass::text as on_table, tgname, pg_get_triggerdef(oid) as definition
      from pg_trigger where not tgisinternal order by 1, 2`),
    grants: await q(`select table_schema, table_name, grantee, privilege_type from information_schema.role_table_grants
      where table_schema ${SYSTEM} order by 1, 2, 3, 4`),
    migrations: [],
  }
  // The rows migrations insert (the default tenant, the plans) and their record, without applied_at.
  for (const { schema } of schemas) {
    snapshot.migrations!.push(
      ...(await q(
        `select '${schema}' as schema, owner, version, name, checksum from ${schema}.mosaic_migrations order by 2, 3`,
      )),
    )
    for (const { tablename } of (await q(
      `select tablename from pg_tables where schemaname = '${schema}' and tablename <> 'mosaic_migrations' order by 1`,
    )) as { tablename: string }[])
      snapshot.migrations!.push(
        ...(await q(
          `select '${schema}.${tablename}' as rows, to_jsonb(t) - 'created_at' as row from ${schema}.${tablename} t`,
        )),
      )
  }
  return snapshot
}

/** Applies every schema's migrations; returns what each applied now. */
async function migrateAll(engine: Engine, set: readonly TemplateSchema[] = schemas): Promise<string[]> {
  const applied: string[] = []
  for (const { schema, sources } of set) applied.push(...(await migrate(engine, schema, sources)))
  return applied
}

test('a data directory copied from the template holds the schemas that migrating from scratch makes', async (t) => {
  const template = await writeSchemaTemplate(schemas)
  assert.ok(template.startsWith(`${templatePath}-schemas-`), 'keyed by PGlite version first')
  const [copied, scratch] = await Promise.all([tempDataDir(t), tempDataDir(t)])

  const fromTemplate = await openPglite(copied, async () => template)
  t.after(() => fromTemplate.close())
  assert.deepEqual(await migrateAll(fromTemplate), [], 'nothing pending in the copy')

  const fromScratch = await openPglite(scratch)
  t.after(() => fromScratch.close())
  assert.ok((await migrateAll(fromScratch)).includes('identity/001_identity.sql'), 'the empty template has no schemas')

  const [a, b] = [await catalogOf(fromTemplate), await catalogOf(fromScratch)]
  assert.ok(a.tables!.length > 20 && a.migrations!.length > 20, 'the snapshot sees what migrations made')
  assert.deepEqual(a, b)
  // Only the database the services use (CREATE DATABASE's templates are left out, to copy fewer files).
  assert.deepEqual(await fromTemplate.admin.query('select datname from pg_database'), [{ datname: 'postgres' }])
  // No instance's own data: no signing key, no user, no product.
  for (const table of ['identity.signing_keys', 'identity.users', 'catalog.products'])
    assert.deepEqual(await fromTemplate.admin.query(`select count(*)::int as n from ${table}`), [{ n: 0 }], table)
})

test('another migration names another template; a missing one falls back to the empty template and migrates', async (t) => {
  const dir = await tempDataDir(t)
  const migrations = join(dir, 'migrations')
  await cp(new URL('../src/services/catalog/migrations/', import.meta.url), migrations, { recursive: true })
  const catalogAt = (url: URL): TemplateSchema[] =>
    schemas.map((s) =>
      s.schema === 'catalog' ? { ...s, sources: [s.sources[0]!, { owner: 'catalog', dir: url }] } : s,
    )
  const url = pathToFileURL(`${migrations}/`)
  const same = await schemaTemplatePath(catalogAt(url))
  assert.equal(same, await schemaTemplatePath(schemas), 'the same migrations elsewhere: the same template')
  assert.equal(
    await schemaTemplatePath([...schemas].reverse()),
    same,
    'the order schemas are listed in does not matter',
  )
  assert.notEqual(await schemaTemplatePath(schemas.slice(1)), same, 'one schema fewer')

  await writeFile(join(migrations, '003_tags.sql'), 'alter table products add column tags text[];\n')
  const added = await schemaTemplatePath(catalogAt(url))
  assert.notEqual(added, same, 'a new migration')
  await writeFile(join(migrations, '003_tags.sql'), 'alter table products add column labels text[];\n')
  const edited = await schemaTemplatePath(catalogAt(url))
  assert.notEqual(edited, added, 'an edited migration')
  assert.ok(!existsSync(edited), 'no template for these migrations')

  const engine = await openPglite(join(dir, 'data'), async () => edited)
  t.after(() => engine.close())
  const applied = await migrateAll(engine, catalogAt(url))
  assert.ok(applied.includes('catalog/003_tags.sql'), 'the edited migration applied')
  assert.ok(applied.includes('identity/001_identity.sql'), 'migrated from the empty template')
  assert.deepEqual(await engine.admin.query(`select count(*)::int as n from catalog.products where labels is null`), [
    { n: 0 },
  ])
})

test('two fresh starts from the template each make their own signing key and seeds', async (t) => {
  if (!existsSync(await schemaTemplatePath(schemas))) await writeSchemaTemplate(schemas) // the first test made it
  const env = { PORT: '0', LOG_PRETTY: 'false', LOG_LEVEL: 'info', METRICS_PORT: 'off' }
  const [a, b] = await Promise.all(
    [0, 1].map(async () => spawnNode([cli, 'start'], { ...env, DATA_DIR: await tempDataDir(t) }, 60_000)),
  )
  t.after(() => Promise.all([a!.kill(), b!.kill()]))
  const keys: unknown[] = []
  for (const child of [a!, b!]) {
    await child.waitFor(/"msg":"mosaic ready"/, 60_000)
    assert.doesNotMatch(child.output(), /migrations applied/, 'the template had them all')
    assert.match(child.output(), /new access-token signing key/)
    assert.match(child.output(), /demo catalog seeded/)
    const product = await fetch(new URL('/api/products/prod-mouse', child.url))
    assert.equal(product.status, 200)
    keys.push(await (await fetch(new URL('/.well-known/jwks.json', child.url))).json())
  }
  assert.notDeepEqual(keys[0], keys[1], 'each data directory signs with a key of its own')
})

test('an install keeps only the template it made', async () => {
  const current = await schemaTemplatePath(schemas)
  if (!existsSync(current)) await writeSchemaTemplate(schemas)
  const old = `${templatePath}-schemas-0000000000000000`
  await mkdir(old, { recursive: true })
  await removeOtherSchemaTemplates(current)
  assert.ok(!existsSync(old), 'the one for other migrations is gone')
  assert.ok(existsSync(join(current, 'PG_VERSION')), 'the current one stays')
  assert.ok(existsSync(join(templatePath, 'PG_VERSION')), 'and so does the empty one')
})
