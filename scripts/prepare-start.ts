// `npm install` runs this (postinstall): what a first start would otherwise derive itself, made
// once ahead of it, so that even the first `npm start` is as quick as the later ones. Both are kept
// in node_modules/.cache/mosaic (src/kit/internal/derived-files.ts).
import { writeTemplate } from '../src/kit/db/pglite-template.ts'
import { loadPolicies } from '../src/kit/authz.ts'

console.log(`mosaic: prepared an empty PGlite database at ${await writeTemplate()}`)
try {
  loadPolicies()
  console.log('mosaic: authorization policies validated')
} catch (error) {
  // Never fails the install: `mosaic start` refuses these policies with the same message.
  console.warn(`mosaic: ${(error as Error).message}`)
}
