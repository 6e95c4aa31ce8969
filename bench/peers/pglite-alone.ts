// Peer for the start: the embedded database alone (PGlite opened as Mosaic opens it, from the
// prepared template on a fresh directory) behind a bare HTTP health check: the floor of `mosaic start`.
// Run: PORT=… DATA_DIR=… node bench/peers/pglite-alone.ts
import { createServer } from 'node:http'
import { join } from 'node:path'
import { openPglite } from '../../src/kit/db/pglite.ts'

const engine = await openPglite(join(process.env.DATA_DIR!, 'embedded'))
await engine.admin.query('select 1')
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/health+json' }).end('{"status":"pass"}')
})
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1')
process.once('SIGTERM', () => {
  server.close()
  void engine.close().then(() => process.exit(0))
})
