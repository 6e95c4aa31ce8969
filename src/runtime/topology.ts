// The whole system, declared in one place: which services exist and the port each listens on
// when it runs alone. This file, the CLI's commands and the tests are the only code that imports implementations.
import type { AnyService } from '../kit/service.ts'
import identity from '../services/identity/service.ts'
import catalog from '../services/catalog/service.ts'

export interface ServiceEntry {
  readonly definition: AnyService
  /** Default port for `mosaic serve <name>` (override with <NAME>_SERVICE_PORT). */
  readonly port: number
}

export const topology: readonly ServiceEntry[] = [
  { definition: identity, port: 3001 },
  { definition: catalog, port: 3002 },
]

export function findService(name: string): ServiceEntry | undefined {
  return topology.find((s) => s.definition.contract.name === name)
}
