// A fresh embedded database starts from the template `npm install` prepares; when the template is
// missing (install scripts skipped, cache cleared), the first fresh directory puts it back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPglite } from './pglite.ts'
import { readTemplate, templatePath } from './pglite-template.ts'

test('a fresh data directory without a template becomes the template, and the next one starts from it', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'mosaic-pglite-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  await rm(templatePath, { force: true })

  const first = await openPglite(join(root, 'a'))
  await first.close()
  assert.ok(existsSync(templatePath), 'the template is written again')
  assert.ok((await readTemplate())!.size > 0)

  const second = await openPglite(join(root, 'b'))
  t.after(() => second.close())
  assert.deepEqual(await second.admin.query('select 1 as one'), [{ one: 1 }])
})
