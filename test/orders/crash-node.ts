// A Mosaic process with identity, catalog, payments and orders, for the test that kills it
// during checkouts. Payments uses its built-in simulated provider, whose ledger lives in the
// database and so outlives the process as a real provider's would. Prints its URL.
import { startNode, exitOnSignals } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import orders from '../../src/services/orders/service.ts'
import payments from '../../src/services/payments/service.ts'

const node = await startNode({ role: 'gateway', services: [identity, catalog, payments, orders], port: 0 })
exitOnSignals(node)
console.log(`READY ${node.url}`)
