// `mosaic` runs from the bundle made at install only while it was made from the files as they are
// (src/runtime/start-bundle.ts); the bundle itself behaves as the sources do.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { derivedDir } from '../src/kit/internal/derived-files.ts'
import { digestOf, freshBundle, stampOf, type BundleManifest } from '../src/runtime/start-bundle.ts'
import { writeStartBundle } from '../scripts/start-bundle.ts'

const run = promisify(execFile)
const node = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url))

/** A bundle, a source and a lock file in a temporary folder, and a manifest naming them as they are. */
async function madeBundle(): Promise<{ dir: string; manifest: string; source: string; lock: string; bundle: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-bundle-'))
  const [bundle, source, lock, manifest] = ['b.mjs', 'a.ts', 'lock.json', 'inputs.json'].map((f) => join(dir, f))
  await writeFile(bundle!, 'export {}')
  await writeFile(source!, 'export const a = 1')
  await writeFile(lock!, '{"lockfileVersion":3}')
  const made: BundleManifest = {
    bundle: 'file:///the/bundle.mjs',
    files: [stampOf(bundle!)!, stampOf(source!)!],
    digests: [digestOf(lock!)!],
  }
  await writeFile(manifest!, JSON.stringify(made))
  return { dir, manifest: manifest!, source: source!, lock: lock!, bundle: bundle! }
}

test('the bundle is run while every file it was made from is unchanged', async () => {
  const { dir, manifest } = await madeBundle()
  try {
    assert.equal(freshBundle(manifest, {}), 'file:///the/bundle.mjs')
    assert.equal(freshBundle(manifest, { MOSAIC_BUNDLE: 'off' }), undefined, 'MOSAIC_BUNDLE=off runs the sources')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a source edited, touched or removed since, a new lock file, or a bundle replaced: the sources run', async (t) => {
  const changes: Record<string, (made: Awaited<ReturnType<typeof madeBundle>>) => Promise<void>> = {
    'source edited': ({ source }) => writeFile(source, 'export const a = 2 '),
    'source touched': ({ source }) => utimes(source, new Date(), new Date(Date.now() + 5_000)),
    'source removed': ({ source }) => rm(source),
    'same size, other dependencies': ({ lock }) => writeFile(lock, '{"lockfileVersion":4}'),
    'bundle replaced': ({ bundle }) => writeFile(bundle, 'export { } '),
    'manifest unreadable': ({ manifest }) => writeFile(manifest, '{"bundle":'),
    'no manifest': ({ manifest }) => rm(manifest),
  }
  for (const [name, change] of Object.entries(changes))
    await t.test(name, async () => {
      const made = await madeBundle()
      try {
        await change(made)
        assert.equal(freshBundle(made.manifest, {}), undefined)
      } finally {
        await rm(made.dir, { recursive: true, force: true })
      }
    })
})

test('the bundle made from the sources runs the CLI, finding the files beside each source', async () => {
  // Beside the real bundle (node_modules/.cache/mosaic), where the dependencies left out of it resolve.
  const out = join(derivedDir, `test-bundle-${process.pid}.mjs`)
  const manifest = `${out}.inputs.json`
  try {
    await writeStartBundle(out, manifest)
    const made = JSON.parse(await readFile(manifest, 'utf8')) as BundleManifest
    const named = made.files.map(([path]) => path)
    assert.ok(named.includes(fileURLToPath(new URL('../src/cli/mosaic.ts', import.meta.url))))
    assert.ok(named.includes(fileURLToPath(new URL('../src/runtime/node.ts', import.meta.url))))
    assert.deepEqual(
      made.digests.map(([path]) => path),
      [fileURLToPath(new URL('../package-lock.json', import.meta.url))],
    )
    assert.equal(freshBundle(manifest, {}), new URL(`file://${out}`).href)
    // --version reads package.json beside the CLI's source: found from the bundle too.
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    assert.equal((await run(node, [out, '--version'])).stdout.trim(), version)
    // `services list` loads every service definition (their migrations' folders named beside them).
    assert.match((await run(node, [out, 'services', 'list'])).stdout, /^catalog\s+\S+\s+port 3002$/m)
  } finally {
    await rm(out, { force: true })
    await rm(manifest, { force: true })
  }
})
