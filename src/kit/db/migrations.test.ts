import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { openPglite } from './pglite.ts'
import { migrate, MigrationError } from './migrations.ts'
import type { Engine } from './database.ts'

let engine: Engine
let dir: string
const source = () => ({ owner: 'shop', dir: pathToFileURL(dir + '/') })

before(async () => {
  engine = await openPglite()
  dir = await mkdtemp(join(tmpdir(), 'mosaic-migrations-'))
})
after(async () => {
  await engine.close()
  await rm(dir, { recursive: true, force: true })
})

test('pending migrations apply in order, once, into the service schema', async () => {
  await writeFile(join(dir, '002_add_price.sql'), 'alter table items add column price int not null default 0;')
  await writeFile(
    join(dir, '001_items.sql'),
    'create table items (id text primary key);\ncreate index items_id on items (id);',
  )
  assert.deepEqual(await migrate(engine, 'shop', [source()]), ['shop/001_items.sql', 'shop/002_add_price.sql'])
  assert.deepEqual(await migrate(engine, 'shop', [source()]), [], 'a second run applies nothing')
  await engine.forSchema('shop').query(`insert into items (id, price) values ('a', 5)`)
  const recorded = await engine
    .forSchema('shop')
    .query<{ version: number; checksum: string }>('select version, checksum from mosaic_migrations order by version')
  assert.deepEqual(
    recorded.map((r) => r.version),
    [1, 2],
  )
  assert.match(recorded[0]!.checksum, /^[0-9a-f]{64}$/)
  const [other] = await engine.admin.query<{ n: bigint }>(
    `select count(*) as n from information_schema.tables where table_schema = 'public' and table_name = 'items'`,
  )
  assert.equal(other!.n, 0n, 'nothing leaked into another schema')
})

test('a migration changed after it was applied stops the start', async () => {
  await writeFile(join(dir, '001_items.sql'), 'create table items (id text primary key, extra int);')
  await assert.rejects(
    migrate(engine, 'shop', [source()]),
    (e: unknown) => e instanceof MigrationError && /001_items.sql was changed/.test(e.message),
  )
  await writeFile(
    join(dir, '001_items.sql'),
    'create table items (id text primary key);\ncreate index items_id on items (id);',
  )
})

test('a failing migration is rolled back and not recorded', async () => {
  await writeFile(join(dir, '003_broken.sql'), 'create table broken (id int);\nselect * from no_such_table;')
  await assert.rejects(migrate(engine, 'shop', [source()]), /no_such_table/)
  const [t] = await engine.admin.query<{ n: bigint }>(
    `select count(*) as n from information_schema.tables where table_schema = 'shop' and table_name = 'broken'`,
  )
  assert.equal(t!.n, 0n)
  const recorded = await engine.forSchema('shop').query('select 1 from mosaic_migrations where version = 3')
  assert.equal(recorded.length, 0)
  await rm(join(dir, '003_broken.sql'))
})

test('badly named or duplicate-numbered files are refused', async () => {
  await writeFile(join(dir, 'items.sql'), 'select 1;')
  await assert.rejects(migrate(engine, 'shop', [source()]), /must be named NNN_description.sql/)
  await rm(join(dir, 'items.sql'))
  await writeFile(join(dir, '002_again.sql'), 'select 1;')
  await assert.rejects(migrate(engine, 'shop', [source()]), /two migrations numbered 2/)
  await rm(join(dir, '002_again.sql'))
})

test('pending migrations apply together or not at all: one failing leaves none of those before it', async () => {
  await writeFile(join(dir, '003_tags.sql'), 'create table tags (id text primary key);')
  await writeFile(join(dir, '004_broken.sql'), 'select * from no_such_table;')
  await assert.rejects(migrate(engine, 'shop', [source()]), /no_such_table/)
  const [t] = await engine.admin.query<{ n: bigint }>(
    `select count(*) as n from information_schema.tables where table_schema = 'shop' and table_name = 'tags'`,
  )
  assert.equal(t!.n, 0n, '003 was rolled back with 004')
  await rm(join(dir, '004_broken.sql'))
  assert.deepEqual(await migrate(engine, 'shop', [source()]), ['shop/003_tags.sql'])
  await rm(join(dir, '003_tags.sql'))
})

test("a restart trusts the schema's mark of its migrations; an edit, a new one or a dropped schema takes the full path", async () => {
  const own = await mkdtemp(join(tmpdir(), 'mosaic-migrations-marked-'))
  try {
    const marked = { owner: 'marked', dir: pathToFileURL(own + '/') }
    const markOf = async (): Promise<string | null> =>
      (
        await engine.admin.query<{ mark: string | null }>(
          `select obj_description(to_regnamespace('marked'), 'pg_namespace') as mark`,
        )
      )[0]!.mark
    await writeFile(join(own, '001_a.sql'), 'create table a (id int);')
    assert.deepEqual(await migrate(engine, 'marked', [marked]), ['marked/001_a.sql'])
    const first = await markOf()
    assert.match(first ?? '', /^mosaic migrations [0-9a-f]{64}$/)

    await writeFile(join(own, '001_a.sql'), 'create table a (id bigint);')
    await assert.rejects(migrate(engine, 'marked', [marked]), /001_a.sql was changed/, 'an edit is still caught')
    await writeFile(join(own, '001_a.sql'), 'create table a (id int);')
    await writeFile(join(own, '002_b.sql'), 'create table b (id int);')
    assert.deepEqual(await migrate(engine, 'marked', [marked]), ['marked/002_b.sql'])
    assert.notEqual(await markOf(), first, 'the mark follows what is applied')

    // With the mark in place nothing else is read: the record of what was applied is not even looked at.
    await engine.forSchema('marked').query('delete from mosaic_migrations')
    assert.deepEqual(await migrate(engine, 'marked', [marked]), [])

    await engine.admin.exec('drop schema marked cascade')
    assert.deepEqual(await migrate(engine, 'marked', [marked]), ['marked/001_a.sql', 'marked/002_b.sql'])
  } finally {
    await rm(own, { recursive: true, force: true })
  }
})
