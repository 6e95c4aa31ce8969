// A fresh embedded database starts from the template `npm install` prepares; when the template is
// missing (install scripts skipped, cache cleared), the first fresh start puts it back.
import { AsyncLocalStorage } from 'node:async_hooks'
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPglite } from './pglite.ts'
import { templatePath } from './pglite-template.ts'
import { migrate } from './migrations.ts'
import { registry } from '../telemetry/metrics.ts'

/** An embedded database with two services' schemas, shop_a and shop_b, each with a table `t` made by `table`. */
async function twoSchemas(t: TestContext, table: string) {
  const engine = await openPglite()
  t.after(() => engine.close())
  await migrate(engine, 'shop_a', [])
  await migrate(engine, 'shop_b', [])
  const a = engine.forSchema('shop_a')
  const b = engine.forSchema('shop_b')
  await a.exec(table.replaceAll('$name', 'a'))
  await b.exec(table.replaceAll('$name', 'b'))
  return { engine, a, b }
}

test('a fresh start without a template makes it again, and the next fresh start copies it', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mosaic-pglite-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  await rm(templatePath, { recursive: true, force: true })

  const first = await openPglite(join(root, 'a'))
  await first.close()
  assert.ok(existsSync(join(templatePath, 'PG_VERSION')), 'the template is written again')

  const second = await openPglite(join(root, 'b'))
  t.after(() => second.close())
  assert.deepEqual(await second.admin.query('select 1 as one'), [{ one: 1 }])
})

test('each statement runs as its own schema whatever ran before it: interleaved, after a failed statement, a failed transaction or a failed switch', async (t) => {
  const { engine, a, b } = await twoSchemas(t, `create table t (v text); insert into t values ('$name')`)
  const who = `select current_user as role, current_schema() as schema, (select v from t) as v`

  const interleaved = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? a : b).query(who)))
  interleaved.forEach((rows, i) =>
    assert.deepEqual(rows, [
      i % 3 === 0 ? { role: 'svc_shop_a', schema: 'shop_a', v: 'a' } : { role: 'svc_shop_b', schema: 'shop_b', v: 'b' },
    ]),
  )

  await assert.rejects(a.query('select * from missing_table'), /missing_table/)
  assert.deepEqual(await a.query(who), [{ role: 'svc_shop_a', schema: 'shop_a', v: 'a' }])
  await assert.rejects(
    b.transaction(async (tx) => {
      await tx.query(`insert into t values ('never')`)
      throw new Error('no')
    }),
    /no/,
  )
  assert.deepEqual(await b.query('select v from t'), [{ v: 'b' }], 'the failed transaction was rolled back')
  await assert.rejects(engine.forSchema('no_such_service').query('select 1'), /svc_no_such_service/)
  assert.deepEqual(await a.query(who), [{ role: 'svc_shop_a', schema: 'shop_a', v: 'a' }])
  assert.deepEqual(
    await engine.admin.query(`select current_user = session_user as reset, current_schema() as schema`),
    [{ reset: true, schema: 'public' }],
  )
})

test('a transaction that switches schema does it in its BEGIN: rolled back, a failed statement caught inside, or a failed switch, the next unit of work still runs as its own schema', async (t) => {
  const { engine, a, b } = await twoSchemas(t, `create table t (v text primary key)`)
  const who = `select current_user as role, current_schema() as schema`
  const asA = [{ role: 'svc_shop_a', schema: 'shop_a' }]
  const asB = [{ role: 'svc_shop_b', schema: 'shop_b' }]

  assert.deepEqual(await a.transaction((tx) => tx.query(who)), asA)
  // Rolled back: the SETs sent with its BEGIN are undone with it, so the session is back to shop_a's.
  await assert.rejects(
    b.transaction(async (tx) => {
      assert.deepEqual(await tx.query(who), asB)
      await tx.query(`insert into t values ('never')`)
      throw new Error('no')
    }),
    /no/,
  )
  assert.deepEqual(await b.query(who), asB)
  assert.deepEqual(await b.query('select v from t'), [])
  await a.query(who)
  assert.deepEqual(await b.transaction((tx) => tx.query(who)), asB, 'after a rollback, the next transaction switches')

  // A failed statement whose error is caught inside: COMMIT rolls back, and the caller hears of it.
  await a.query(who)
  await assert.rejects(
    b.transaction(async (tx) => {
      await tx.query(`insert into t values ('x')`)
      await tx.query(`insert into t values ('x')`).catch(() => {})
    }),
    /rolled back/,
  )
  assert.deepEqual(await b.query('select v from t'), [], 'nothing of it committed')
  assert.deepEqual(await a.transaction((tx) => tx.query(who)), asA)

  await assert.rejects(
    engine.forSchema('no_such_service').transaction((tx) => tx.query('select 1')),
    /svc_no_such_service/,
  )
  assert.deepEqual(await a.transaction((tx) => tx.query(who)), asA, 'no transaction left open by the failed switch')
  assert.deepEqual(
    await engine.admin.transaction((tx) =>
      tx.query(`select current_user = session_user as reset, current_schema() as schema`),
    ),
    [{ reset: true, schema: 'public' }],
  )
})

test('queued units of work run those of the current schema first, in their order, without starving the others', async (t) => {
  const { a, b } = await twoSchemas(t, `create table t (v text)`)
  await a.query('select 1')
  const switches = async (): Promise<number> => {
    const metric = await registry.getSingleMetric('db_client_statements_total')!.get()
    return metric.values
      .filter((v) => String(v.labels.db_namespace).startsWith('shop_'))
      .reduce((n, v) => n + v.value, 0)
  }
  const before = await switches()
  const order: string[] = []
  // Queued while shop_a's session is current: a, b, a, b, ... Every a first (in order), then every b.
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      (i % 2 === 0 ? a : b).query(`select current_user as role, ${i} as i`).then(([row]) => {
        assert.equal((row as { role: string }).role, i % 2 === 0 ? 'svc_shop_a' : 'svc_shop_b')
        order.push(`${i % 2 === 0 ? 'a' : 'b'}${i}`)
      }),
    ),
  )
  assert.deepEqual(order, [
    ...Array.from({ length: 10 }, (_, k) => `a${2 * k}`),
    ...Array.from({ length: 10 }, (_, k) => `b${2 * k + 1}`),
  ])
  assert.equal((await switches()) - before, 21, '20 statements and one switch, not 20')

  // shop_b's unit waits at the head while shop_a's, queued behind it, keep overtaking: it runs after
  // a bounded number of them, not after all.
  let bRan = -1
  let aRan = 0
  await Promise.all([
    a.query('select 1'),
    b.query('select 1').then(() => {
      bRan = aRan
    }),
    ...Array.from({ length: 100 }, () => a.query('select 1').then(() => aRan++)),
  ])
  assert.ok(bRan >= 0 && bRan <= 32, `shop_b ran after ${bRan} of shop_a's 100`)
})

test("a unit of work runs in its caller's async context (its trace), not in the unit's before it", async (t) => {
  const { a, b } = await twoSchemas(t, `create table t (v text)`)
  const caller = new AsyncLocalStorage<string>()
  // Queued together and across schemas, so that most units are started by the end of another one.
  const seen = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      caller.run(`caller ${i}`, () => (i % 3 === 0 ? a : b).transaction(async () => caller.getStore())),
    ),
  )
  assert.deepEqual(
    seen,
    Array.from({ length: 12 }, (_, i) => `caller ${i}`),
  )
})

test('an embedded database keeps 16 MB of shared buffers, fresh or reopened', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mosaic-pglite-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  for (let open = 0; open < 2; open++) {
    const engine = await openPglite(join(root, 'db'))
    assert.deepEqual(await engine.admin.query('show shared_buffers'), [{ shared_buffers: '16MB' }])
    await engine.close()
  }
})
