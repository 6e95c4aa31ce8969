// Initialising an empty PGlite data directory (initdb, in WebAssembly, onto disk) takes seconds;
// copying a prepared one takes a fraction of that. `npm install` runs this file to prepare the
// copy once, so the first `npm start` is as quick as the later ones. Without it (installs with
// --ignore-scripts) PGlite simply initialises the directory itself.
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'

// node_modules/@electric-sql/pglite/dist/index.js → the package folder
const pglitePackage = dirname(dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))))
const { version } = JSON.parse(await readFile(join(pglitePackage, 'package.json'), 'utf8')) as { version: string }
/** node_modules/.cache/mosaic/, keyed by PGlite's version: a new PGlite makes a new template. */
export const templatePath = join(pglitePackage, '..', '..', '.cache', 'mosaic', `pglite-${version}.tar.gz`)

export async function readTemplate(): Promise<Blob | undefined> {
  try {
    return new Blob([await readFile(templatePath)])
  } catch {
    return undefined
  }
}

/** Saves `pg`'s data directory as the template; `pg` defaults to a new, empty database. */
export async function writeTemplate(from?: PGlite): Promise<string> {
  const pg = from ?? await PGlite.create()
  const dump = await pg.dumpDataDir('gzip')
  if (!from) await pg.close()
  await mkdir(dirname(templatePath), { recursive: true })
  const partial = `${templatePath}.${process.pid}`
  await writeFile(partial, Buffer.from(await dump.arrayBuffer()))
  await rename(partial, templatePath) // never leave a half-written template behind
  return templatePath
}

if (import.meta.main) console.log(`mosaic: prepared an empty PGlite database at ${await writeTemplate()}`)
