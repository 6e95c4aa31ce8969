// The one-call statement path answers exactly as PGlite's own `query` does: each case is run both
// ways on the same database and compared (rows, types, errors).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { PGlite, types } from '@electric-sql/pglite'
import { pgliteStatements } from './pglite-statements.ts'

async function database(t: TestContext) {
  const pg = await PGlite.create({ parsers: { [types.INT8]: (value: string) => BigInt(value) } })
  t.after(() => (pg.closed ? undefined : pg.close()))
  await pg.exec(`create table every_type (
    id int primary key, n int2, i int4, b int8, f float8, r real, num numeric(12, 3), flag bool, t text, v varchar(10),
    c char(3), j json, jb jsonb, at timestamptz, ts timestamp, d date, bytes bytea, u uuid, texts text[], ints int8[],
    iv interval, unique (t))`)
  const statements = pgliteStatements(pg)
  /**
   * `statements.query`'s answer, after checking that PGlite's `query` gives the same (in a
   * transaction rolled back, so that a write is done once).
   */
  const both = async (text: string, params: unknown[] = []): Promise<unknown[]> => {
    await pg.exec('begin')
    const theirs = await pg.query(text, params).then(
      (r) => ({ rows: r.rows }),
      (error: unknown) => ({ error }),
    )
    await pg.exec('rollback')
    const ours = await statements.query('public', text, params, true).then(
      (rows) => ({ rows }),
      (error: unknown) => ({ error }),
    )
    assert.deepEqual(ours, theirs, text)
    if ('error' in ours) throw ours.error
    return ours.rows
  }
  const prepared = async (): Promise<number> =>
    Number((await pg.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements')).rows[0]!.n)
  return { pg, statements, both, prepared }
}

const row = {
  id: 1,
  n: -7,
  i: 2_000_000_000,
  b: 9_007_199_254_740_993n,
  f: 1.5,
  r: 0.25,
  num: '123456789.125',
  flag: true,
  t: 'it\'s "quoted" \\ and ünïcödé, a {brace}',
  v: 'short',
  c: 'USD',
  j: { a: [1, 'two', null] },
  jb: [{ nested: { deep: true } }, 2],
  at: new Date('2026-11-29T20:15:00.123Z'),
  ts: new Date('2026-11-29T20:15:00.000Z'),
  d: new Date('2026-11-29T00:00:00.000Z'),
  bytes: Uint8Array.from([0, 1, 127, 128, 255]),
  u: '0b6e1f3a-8c39-4f0e-9a53-6f3c1a0a9f10',
  texts: ['a', 'b,c', 'd"e', null],
  ints: [1n, -2n, 9_007_199_254_740_993n],
  iv: '1 day 02:03:04',
}
const columns = Object.keys(row)
const insert = `insert into every_type (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')}) returning *`

test('every kind of column and parameter, null and empty answers come back as from PGlite’s query', async (t) => {
  const { pg, statements, both } = await database(t)
  const [inserted] = await statements.query('public', insert, Object.values(row), true)
  assert.deepEqual(inserted, (await pg.query('select * from every_type where id = 1')).rows[0])
  assert.equal(typeof (inserted as { b: unknown }).b, 'bigint', 'int8 as BigInt')
  assert.deepEqual((inserted as { bytes: unknown }).bytes, row.bytes)
  assert.deepEqual((inserted as { j: unknown }).j, row.j)

  await both('select * from every_type where id = $1', [1])
  await both('select * from every_type where id = $1', [2]) // no rows
  await both(`insert into every_type (id, t) values ($1, $2)`, [2, null]) // no result columns
  await both('select * from every_type order by id') // nulls in every column of row 2
  await both('select $1::text as a, $2::int8 as b, $3::jsonb as c, $4::bool as d, $5::timestamptz as e', [
    'x',
    5n,
    { k: 'v' },
    false,
    new Date(0),
  ])
  await both('select $1::jsonb as raw', ['{"already":"json"}']) // a string for json is sent as it is
  await both('select * from every_type where t = any($1)', [['it\'s "quoted" \\ and ünïcödé, a {brace}']])
  await both('select 1 as one where false')
  await both('update every_type set n = n + 1 where id = $1', [99])
})

test('errors are PostgreSQL’s, with code and detail, and the next statement runs; inside a transaction too', async (t) => {
  const { pg, statements, both } = await database(t)
  await both('insert into every_type (id, t) values ($1, $2)', [1, 'taken'])
  const duplicate = await statements
    .query('public', 'insert into every_type (id, t) values ($1, $2)', [2, 'taken'], true)
    .catch((error: unknown) => error)
  assert.equal((duplicate as { code: string }).code, '23505')
  assert.match((duplicate as { detail: string }).detail, /\(t\)=\(taken\) already exists/)
  assert.equal((duplicate as { constraint: string }).constraint, 'every_type_t_key')
  await assert.rejects(both('insert into every_type (id, t) values ($1, $2)', [2, 'taken']), { code: '23505' })
  await assert.rejects(both('select * from missing_table'), { code: '42P01' }) // fails to prepare
  await assert.rejects(both('select $1::int as n', ['not a number']), { code: '22P02' }) // fails to bind
  await assert.rejects(both('select 1/0'), { code: '22012' }) // fails to run, no parameters
  await assert.rejects(both('select 1/$1::int', [0]), { code: '22012' })
  assert.deepEqual(await both('select count(*)::int as n from every_type'), [{ n: 1 }])

  // Inside a transaction: a failed statement aborts it, later ones are refused, and ROLLBACK ends it.
  await pg.exec('begin')
  await statements.query('public', 'insert into every_type (id, t) values ($1, $2)', [3, 'in tx'], false)
  assert.deepEqual(await statements.query('public', 'select t from every_type where id = $1', [3], false), [
    { t: 'in tx' },
  ])
  await assert.rejects(
    statements.query('public', 'insert into every_type (id, t) values ($1, $2)', [4, 'taken'], false),
    { code: '23505' },
  )
  await assert.rejects(statements.query('public', 'select t from every_type where id = $1', [3], false), {
    code: '25P02',
  })
  await pg.exec('rollback')
  assert.deepEqual(await both('select id from every_type order by id'), [{ id: 1 }])
})

test('a statement prepared in a transaction rolled back still runs; statements of one transaction sent together run in turn', async (t) => {
  const { pg, statements } = await database(t)
  await pg.exec('begin')
  await statements.query('public', 'insert into every_type (id, t) values ($1, $2)', [1, 'rolled back'], false)
  await pg.exec('rollback')
  await statements.query('public', 'insert into every_type (id, t) values ($1, $2)', [1, 'kept'], true)

  await pg.exec('begin')
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? statements.query(
            'public',
            'insert into every_type (id, t) values ($1, $2) returning id',
            [i + 10, `n${i}`],
            false,
          )
        : statements.query('public', 'select $1::int as i', [i], false),
    ),
  )
  await pg.exec('commit')
  assert.deepEqual(
    answers,
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? [{ id: i + 10 }] : [{ i }])),
  )
})

test('a table changed by a script or by a statement is read with its new columns; the same text in two schemas reads each its own table', async (t) => {
  const { pg, statements } = await database(t)
  await statements.exec(`create table shape (a int); insert into shape values (1)`)
  assert.deepEqual(await statements.query('public', 'select * from shape', [], true), [{ a: 1 }])
  await statements.exec(`alter table shape add column b text default 'b'`)
  assert.deepEqual(await statements.query('public', 'select * from shape', [], true), [{ a: 1, b: 'b' }])
  await statements.query('public', `alter table shape add column c int default 3`, [], true)
  assert.deepEqual(await statements.query('public', 'select * from shape', [], true), [{ a: 1, b: 'b', c: 3 }])

  await pg.exec(`create schema other; create table other.shape (x text); insert into other.shape values ('other')`)
  await pg.exec('set search_path to other')
  assert.deepEqual(await statements.query('other', 'select * from shape', [], true), [{ x: 'other' }])
  await pg.exec('reset search_path')
  assert.deepEqual(await statements.query('public', 'select * from shape', [], true), [{ a: 1, b: 'b', c: 3 }])
})

test('statements kept prepared are bounded, and one that failed the first time it ran is not kept', async (t) => {
  const { statements, prepared } = await database(t)
  for (let i = 0; i < 600; i++) await statements.query('public', `select ${i} as i where $1::int = 0`, [0], true)
  assert.equal(await prepared(), 500, 'the least recently used closed beyond 500')
  await statements.exec('select 1') // a script: every statement is prepared again
  await statements.query('public', 'select 1 as one', [], true)
  assert.equal(await prepared(), 1)
  await assert.rejects(statements.query('public', 'select 1/0', [], true), { code: '22012' })
  await statements.query('public', 'select 1 as one', [], true)
  assert.equal(await prepared(), 1, 'the failed one closed')
})

test('a closed database refuses statements as PGlite does', async (t) => {
  const { pg, statements } = await database(t)
  await pg.close()
  await assert.rejects(statements.query('public', 'select 1', [], true), /PGlite is closed/)
})

test('a table changed behind its back: the statement fails once with PostgreSQL’s error, then is prepared again', async (t) => {
  const { pg, statements } = await database(t)
  await pg.exec(`create table shape (a int); insert into shape values (1)`)
  assert.deepEqual(await statements.query('public', 'select * from shape', [], true), [{ a: 1 }])
  await pg.exec(`alter table shape add column b int default 2`) // not through `statements`
  await assert.rejects(statements.query('public', 'select * from shape', [], true), {
    code: '0A000',
    message: /cached plan must not change result type/,
  })
  assert.deepEqual(await statements.query('public', 'select * from shape', [], true), [{ a: 1, b: 2 }])
})

test('commands run in one call and say how they ended: COMMIT of a failed transaction is ROLLBACK; a failed one stops the rest', async (t) => {
  const { pg, statements, prepared } = await database(t)
  assert.deepEqual(await statements.commands(['set search_path to public', 'begin'], false), ['SET', 'BEGIN'])
  await statements.query('public', 'insert into every_type (id) values ($1)', [1], false)
  assert.deepEqual(await statements.commands(['commit'], true), ['COMMIT'])

  await statements.commands(['begin'], false)
  await assert.rejects(statements.query('public', 'insert into every_type (id) values ($1)', [1], false), {
    code: '23505',
  })
  assert.deepEqual(await statements.commands(['commit'], true), ['ROLLBACK'])

  await assert.rejects(statements.commands(['set role nobody_at_all', 'begin'], false), /nobody_at_all/)
  assert.equal(pg.isInTransaction(), false, 'BEGIN after the failed SET did not run')
  await statements.commands(['begin', 'commit'], true) // closes the failed SET's statement
  const before = await prepared()
  for (let i = 0; i < 3; i++) await statements.commands(['begin', 'commit'], true)
  assert.equal(await prepared(), before, 'each command prepared once')
})
