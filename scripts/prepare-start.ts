// `npm install` runs this (postinstall): what a first start would otherwise derive itself, made
// once ahead of it, so that even the first `npm start` is as quick as the later ones; and the
// bundle every start loads its code from. All are kept in node_modules/.cache/mosaic
// (src/kit/internal/derived-files.ts).
import { writeTemplate } from '../src/kit/db/pglite-template.ts'
import { removeOtherSchemaTemplates, writeSchemaTemplate } from '../src/kit/db/schema-template.ts'
import { embeddedSchemas } from '../src/runtime/embedded-schemas.ts'
import { topology } from '../src/runtime/topology.ts'
import { loadPolicies } from '../src/kit/authz.ts'
import { writeStartBundle } from './start-bundle.ts'

console.log(`mosaic: prepared an empty PGlite database at ${await writeTemplate()}`)
// What `mosaic start` runs with no configuration: every service in one process, the embedded bus.
const schemas = embeddedSchemas(
  topology.map((s) => s.definition),
  true,
)
try {
  const template = await writeSchemaTemplate(schemas)
  await removeOtherSchemaTemplates(template)
  console.log(`mosaic: prepared a PGlite database with every service's schema at ${template}`)
} catch (error) {
  // Never fails the install either: a migration that does not apply fails `mosaic start` the same way.
  console.warn(`mosaic: no PGlite database with the services' schemas prepared: ${(error as Error).message}`)
}
try {
  loadPolicies()
  console.log('mosaic: authorization policies validated')
} catch (error) {
  // Never fails the install: `mosaic start` refuses these policies with the same message.
  console.warn(`mosaic: ${(error as Error).message}`)
}
try {
  console.log(`mosaic: bundled the start into ${await writeStartBundle()}`)
} catch (error) {
  // Never fails the install: without the bundle `mosaic` runs the sources, a little more slowly.
  console.warn(`mosaic: no bundle made for the start, the sources will run: ${(error as Error).message}`)
}
