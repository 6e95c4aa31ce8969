// Initialising an empty PGlite data directory (initdb, in WebAssembly) takes seconds; copying a
// prepared one is a plain file copy. `npm install` prepares the copy once (scripts/prepare-start.ts), so
// the first `npm start` is as quick as the later ones. Without it (installs with --ignore-scripts)
// the first fresh start prepares it.
//
// The template is a data directory, not a tarball for PGlite's `loadDataDir`: unpacking that goes
// through the WebAssembly heap, which grows by the size of the archive and never shrinks (some
// 160 MB of resident memory for the life of the process), and is no faster than copying files.
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { cpSync, existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { derivedDir } from '../internal/derived-files.ts'

// node_modules/@electric-sql/pglite/dist/index.js → the package folder
const pglitePackage = dirname(dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))))
const { version } = JSON.parse(await readFile(join(pglitePackage, 'package.json'), 'utf8')) as { version: string }
/** node_modules/.cache/mosaic/, keyed by PGlite's version: a new PGlite makes a new template. */
export const templatePath = join(derivedDir, `pglite-${version}`)

/**
 * Fills the fresh directory `dataDir` from a template (the empty one unless told); false when there
 * is none, or when it went away during the copy (another process replacing it), leaving `dataDir`
 * empty again.
 */
export async function copyTemplate(dataDir: string, template = templatePath): Promise<boolean> {
  if (!existsSync(join(template, 'PG_VERSION'))) return false
  try {
    // The synchronous copy, on purpose: it walks the tree in C++, where the promise one awaits each
    // of the template's ~1,000 files in JavaScript and costs ten times the CPU (0.6 s against 0.06 s
    // measured here). Nothing else runs while a database opens, so blocking the loop costs nothing.
    cpSync(template, dataDir, { recursive: true })
    return true
  } catch {
    await rm(dataDir, { recursive: true, force: true })
    await mkdir(dataDir, { recursive: true })
    return false
  }
}

/** Initialises an empty database and keeps its data directory as the template. */
export function writeTemplate(): Promise<string> {
  return buildTemplate(templatePath, async (dir) => {
    const pg = await PGlite.create(dir)
    await pg.close()
  })
}

/**
 * Makes the template at `path`: `fill` is given an empty directory beside it, renamed into place
 * once filled, so that no start ever copies a half-written template.
 */
export async function buildTemplate(path: string, fill: (dir: string) => Promise<void>): Promise<string> {
  await mkdir(dirname(path), { recursive: true })
  const partial = await mkdtemp(`${path}.partial-`)
  try {
    await fill(partial)
    await rm(path, { recursive: true, force: true })
    await rename(partial, path)
  } finally {
    await rm(partial, { recursive: true, force: true })
  }
  return path
}
