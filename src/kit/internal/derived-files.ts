// Files Mosaic derives from its installed code and can derive again at any time, kept across starts
// in node_modules/.cache/mosaic/ (where build tools keep theirs; a clean install clears it): the
// prepared empty database, and what the authorization policies were found to hold. Nothing here is
// data: removing the folder only makes the next start slower.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The node_modules folder a dependency was installed into: …/node_modules/@electric-sql/pglite/dist/index.js
const installed = fileURLToPath(import.meta.resolve('@electric-sql/pglite'))
const nodeModules = installed.slice(0, installed.lastIndexOf('node_modules') + 'node_modules'.length)

/** node_modules/.cache/mosaic */
export const derivedDir = join(nodeModules, '.cache', 'mosaic')

/** The JSON kept under `name`, or undefined when there is none (or it is unreadable: derived again). */
export function readDerived<T>(name: string): T | undefined {
  try {
    return JSON.parse(readFileSync(join(derivedDir, name), 'utf8')) as T
  } catch {
    return undefined
  }
}

/**
 * Keeps `value` under `name`, written whole beside its place and renamed into it (never read half
 * written). Best effort: a read-only node_modules only means the next start derives it again.
 */
export function writeDerived(name: string, value: unknown): void {
  const path = join(derivedDir, name)
  const partial = `${path}.${process.pid}`
  try {
    mkdirSync(derivedDir, { recursive: true })
    writeFileSync(partial, JSON.stringify(value))
    renameSync(partial, path)
  } catch {
    rmSync(partial, { force: true }) // not kept: derived again next time
  }
}
