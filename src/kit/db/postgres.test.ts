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
import { sideBySide } from './side-by-side.ts'
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

test('BEGIN goes out with the first statement, yet every statement runs inside the transaction', async () => {
  const alpha = engine.forSchema('alpha')
  // now() is the transaction's start: the same in every statement of one transaction, and the
  // first statement's backend transaction id is the last one's.
  const [first, last] = await alpha.transaction(async (tx) => {
    const [a] = await tx.query<{ at: Date; xid: string }>('select now() as at, txid_current()::text as xid')
    await new Promise((resolve) => setTimeout(resolve, 20))
    const [b] = await tx.query<{ at: Date; xid: string }>('select now() as at, txid_current()::text as xid')
    return [a!, b!]
  })
  assert.equal(first.xid, last.xid)
  assert.equal(first.at.getTime(), last.at.getTime())
  // Statements sent side by side in one transaction, one failing: none of them is kept.
  await assert.rejects(
    alpha.transaction((tx) =>
      sideBySide([
        tx.query(`insert into t (id, note) values (2, 'side')`),
        tx.query(`insert into t (id, note) values (2, 'by side')`),
      ]),
    ),
    /duplicate key/,
  )
  assert.deepEqual(await alpha.query('select id from t where id = 2'), [])
  // The connection is back in the pool, in no transaction: the next one starts afresh.
  const [again] = await alpha.query<{ open: boolean }>(`select pg_current_xact_id_if_assigned() is not null as open`)
  assert.equal(again!.open, false)
})
