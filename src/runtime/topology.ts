// The whole system, declared in one place: which services exist and the port each listens on
// when it runs alone. This file, the CLI's commands and the tests are the only code that imports implementations.
import type { AnyService } from '../kit/service.ts'
import identity from '../services/identity/service.ts'
import catalog from '../services/catalog/service.ts'
import orders from '../services/orders/service.ts'
import analytics from '../services/analytics/service.ts'
import notifications from '../services/notifications/service.ts'
import payments from '../services/payments/service.ts'
import files from '../services/files/service.ts'

export interface ServiceEntry {
  readonly definition: AnyService
  /** Default port for `mosaic serve <name>` (override with <NAME>_SERVICE_PORT). */
  readonly port: number
}

export const topology: readonly ServiceEntry[] = [
  { definition: identity, port: 3001 },
  { definition: catalog, port: 3002 },
  { definition: orders, port: 3003 },
  { definition: analytics, port: 3006 },
  { definition: notifications, port: 3005 },
  { definition: payments, port: 3004 },
  { definition: files, port: 3007 },
]

export function findService(name: string): ServiceEntry | undefined {
  return topology.find((s) => s.definition.contract.name === name)
}
