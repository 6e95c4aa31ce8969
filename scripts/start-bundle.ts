// Makes the bundle `mosaic` runs from (src/runtime/start-bundle.ts says when and why): the CLI's
// sources and the dependencies a start loads, in one ES module, with esbuild. `npm install` calls
// this (prepare-start.ts); run it alone with `node scripts/start-bundle.ts`.
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Plugin } from 'esbuild'
import {
  bundlePath,
  digestOf,
  manifestPath,
  stampOf,
  type BundleManifest,
  type Stamp,
} from '../src/runtime/start-bundle.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * Left out of the bundle, loaded from node_modules as before: packages that find files beside their
 * own code (PGlite its WebAssembly and data; Cedar its WebAssembly; sharp and argon2 their native
 * addons; pino its transports' worker threads), and those the sources import on first use only
 * (`await import('qrcode')`): bundled, they would only be parsed. A package imported at the top of
 * a module that is itself imported on first use (ioredis, NATS, postgres) is bundled instead: left
 * out, it would become an import at the top of the bundle, loaded by every start.
 */
const EXTERNAL = [
  '@electric-sql/pglite',
  '@cedar-policy/cedar-wasm',
  'sharp',
  '@node-rs/argon2',
  'pino',
  'pino-pretty',
  'undici',
  'qrcode',
  'nodemailer',
  'file-type',
]

/**
 * Each source keeps its own `import.meta.url` and `import.meta.dirname`: the code finds migrations,
 * views, policies and package.json beside itself, which in a bundle would be beside the bundle.
 * (Hence the bundle is tied to this checkout's place on disk: moved, its sources' stamps fail.)
 */
const ownLocation: Plugin = {
  name: 'own-location',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      if (path.includes('/node_modules/')) return undefined
      const text = (await readFile(path, 'utf8'))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(path)))
      return { contents: text, loader: 'ts' }
    })
  },
}

/** Bundles src/cli/mosaic.ts into `out` and writes beside it the list of what it was made from. */
export async function writeStartBundle(out = bundlePath, manifest = manifestPath): Promise<string> {
  // Loaded here, not at the top: the test of the freshness check needs no esbuild.
  const esbuild = await import('esbuild')
  const partial = `${out}.${process.pid}`
  try {
    const result = await esbuild.build({
      entryPoints: [join(root, 'src/cli/mosaic.ts')],
      absWorkingDir: root,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      outfile: partial,
      external: EXTERNAL,
      // CommonJS dependencies require Node's modules; an ES module has no `require` of its own.
      banner: {
        js: "import { createRequire as mosaicRequire } from 'node:module'; const require = mosaicRequire(import.meta.url);",
      },
      plugins: [ownLocation],
      metafile: true,
      logLevel: 'error',
    })
    await rm(manifest, { force: true }) // no start may pair the new bundle with the old list
    await rename(partial, out)
    const sources = Object.keys(result.metafile.inputs)
      .filter((input) => !input.includes('node_modules/'))
      .map((input) => join(root, input))
    const files = [out, ...sources].map((path) => stampOf(path)).filter((s): s is Stamp => s !== undefined)
    const lock = digestOf(join(root, 'package-lock.json'))
    const made: BundleManifest = { bundle: pathToFileURL(out).href, files, digests: lock ? [lock] : [] }
    await writeFile(`${manifest}.${process.pid}`, JSON.stringify(made))
    await rename(`${manifest}.${process.pid}`, manifest)
    return out
  } finally {
    await rm(partial, { force: true })
  }
}

if (import.meta.main) console.log(`mosaic: bundled the start into ${await writeStartBundle()}`)
