// The schemas a process's embedded database (PGlite) holds: the embedded bus's queue, unless the
// bus is NATS, and each service it runs without a database of its own. A fresh data directory
// starts from the template migrated for exactly this list (kit/db/schema-template.ts), which
// `npm install` makes for `mosaic start` (scripts/prepare-start.ts) from this same function.
import type { AnyService } from '../kit/service.ts'
import type { TemplateSchema } from '../kit/db/schema-template.ts'
import { busMigrations, BUS_SCHEMA } from '../kit/events/local-bus.ts'
import { migrationSourcesOf, schemaOf } from '../kit/internal/host.ts'

export function embeddedSchemas(services: readonly AnyService[], embeddedBus: boolean): TemplateSchema[] {
  return [
    ...(embeddedBus ? [{ schema: BUS_SCHEMA, sources: [busMigrations] }] : []),
    ...services.map((s) => ({ schema: schemaOf(s.contract.name), sources: migrationSourcesOf(s) })),
  ]
}
