// Peer for the cached read: Moleculer with moleculer-web in one process, the broker's action
// answering a constant product (the best a cache could do, with no platform cost around it).
// Run: PORT=… node bench/peers/moleculer-constant.ts
import { ServiceBroker } from 'moleculer'
import ApiGateway from 'moleculer-web'

const product = {
  id: 'prod-mouse',
  name: 'Wireless Mouse',
  description: 'Ergonomic wireless mouse with a silent click',
  price: '29.99',
  currency: 'USD',
  category: 'peripherals',
  stock: 120,
  imageFileId: null,
  createdAt: '2026-11-29T00:00:00.000Z',
  updatedAt: '2026-11-29T00:00:00.000Z',
}

const broker = new ServiceBroker({ logger: false })
broker.createService({ name: 'products', actions: { get: () => product, ready: () => ({ status: 'pass' }) } })
broker.createService({
  name: 'api',
  mixins: [ApiGateway],
  settings: {
    port: Number(process.env.PORT ?? 0),
    ip: '127.0.0.1',
    logRequest: null,
    logResponse: null,
    routes: [
      { path: '/', aliases: { 'GET /api/products/:id': 'products.get', 'GET /health/ready': 'products.ready' } },
    ],
  },
})
await broker.start()
process.once('SIGTERM', () => {
  void broker.stop().then(() => process.exit(0))
})
