// The PostgreSQL engine against the real server: a schema and a role per service, int8 as bigint.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import postgres from 'postgres'
import { openPostgres } from './postgres.ts'
import { migrate } from './migrations.ts'
import type { Engine } from './database.ts'

const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const name = `mosaic_test_${process.pid}_${randomBytes(4).toString('hex')}`
const server = postgres(adminUrl, { max: 1, onnotice: () => {} })
let engine: Engine
let dir: string

before(async () => {
  await server.unsafe(`create database ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  engine = openPostgres(url.toString(), { poolSize: 2 })
  dir = await mkdtemp(join(tmpdir(), 'mosaic-pg-'))
  await writeFile(join(dir, '001_t.sql'), 'create table t (id bigint primary key, note text);')
  // Two services migrating at once, as two replicas starting together would.
  await Promise.all(
    ['alpha', 'beta', 'alpha'].map((schema) =>
      migrate(engine, schema, [{ owner: schema, dir: pathToFileURL(dir + '/') }]),
    ),
  )
})

after(async () => {
  await engine.close()
  await server.unsafe(`drop database if exists ${name} with (force)`)
  await server.end({ timeout: 5 })
  await rm(dir, { recursive: true, force: true })
})

test('each service sees its own tables by plain name, and is refused the others', async () => {
  const alpha = engine.forSchema('alpha')
  await alpha.query('insert into t (id, note) values ($1, $2)', [9007199254740993n, 'big'])
  const [row] = await alpha.query<{ id: bigint }>('select id from t')
  assert.equal(row!.id, 9007199254740993n, 'int8 is exact')
  assert.deepEqual(await engine.forSchema('beta').query('select * from t'), [])
  await assert.rejects(engine.forSchema('beta').query('select * from alpha.t'), /permission denied/)
  await assert.rejects(engine.forSchema('beta').query('drop table alpha.t'), /must be owner|permission denied/)
})

test('a transaction is all or nothing', async () => {
  const beta = engine.forSchema('beta')
  await assert.rejects(
    beta.transaction(async (tx) => {
      await tx.query(`insert into t (id, note) values (1, 'kept?')`)
      await tx.query(`insert into t (id, note) values (1, 'duplicate')`)
    }),
    /duplicate key/,
  )
  assert.deepEqual(await beta.query('select * from t'), [])
})
