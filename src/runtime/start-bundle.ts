// `mosaic` loads its code from one file when it can: the sources and most dependencies bundled
// into one ES module at `npm install` (scripts/start-bundle.ts), kept in node_modules/.cache/mosaic.
// Loading some 1,700 modules one by one (resolving each specifier, reading and compiling each
// file) was most of the CPU a restart spent before its database was even opened; the bundle is one
// read and one (cached) compile (docs/benchmarks.md: 2026-11-29 night, start-fast).
//
// The bundle is used only while every file it was made from is as it was then: a source edited
// after the install (or a checkout of other sources, or another install of the dependencies) runs
// the sources, as if there were no bundle, until the next `npm install` makes it again.
// MOSAIC_BUNDLE=off always runs the sources (stack traces then name them).
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { derivedDir } from '../kit/internal/derived-files.ts'

/** Where the bundle is kept, and the list of what it was made from beside it. */
export const bundlePath = join(derivedDir, 'mosaic.mjs')
export const manifestPath = `${bundlePath}.inputs.json`

/** A file as it was when the bundle was made: its path, size and modification time. */
export type Stamp = readonly [path: string, size: number, mtimeMs: number]

/**
 * A file by its contents (sha-256, hex): package-lock.json, which names every dependency's version.
 * npm gives the files it unpacks one fixed modification time, so a dependency's own files say
 * nothing by their stamps; the lock file changes whenever npm changes what is installed.
 */
export type Digest = readonly [path: string, sha256: string]

export interface BundleManifest {
  readonly bundle: string
  readonly files: readonly Stamp[]
  readonly digests: readonly Digest[]
}

/** The stamp of `path` now, or undefined if there is no such file. */
export function stampOf(path: string): Stamp | undefined {
  const stat = statSync(path, { throwIfNoEntry: false })
  return stat && [path, stat.size, stat.mtimeMs]
}

/** The digest of `path` now, or undefined if there is no such file. */
export function digestOf(path: string): Digest | undefined {
  try {
    return [path, createHash('sha256').update(readFileSync(path)).digest('hex')]
  } catch {
    return undefined
  }
}

/**
 * The bundle to run: its path, when its manifest names files all as they are now (the bundle itself
 * among them) and digests of files as they are now; else undefined, and the caller runs the sources.
 * Some 200 stats and one digest: a few milliseconds.
 */
export function freshBundle(manifest = manifestPath, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.MOSAIC_BUNDLE === 'off') return undefined
  let made: BundleManifest
  try {
    made = JSON.parse(readFileSync(manifest, 'utf8')) as BundleManifest
  } catch {
    return undefined // none made yet (an install without scripts), or unreadable
  }
  for (const [path, size, mtimeMs] of made.files) {
    const now = stampOf(path)
    if (now?.[1] !== size || now[2] !== mtimeMs) return undefined
  }
  for (const [path, sha256] of made.digests) if (digestOf(path)?.[1] !== sha256) return undefined
  return made.bundle
}
