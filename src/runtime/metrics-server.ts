// /metrics on a port of its own (METRICS_PORT), never on the public one: the figures tell business
// volume and which routes fail, which is for the operator's Prometheus, not for anyone on the
// internet. A bare node:http server: one route, no body to parse, nothing else to share.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { registry } from '../kit/telemetry/metrics.ts'
import { untraced, runInContext } from '../kit/telemetry/tracing.ts'
import { listenError } from './startup-error.ts'

export interface MetricsServer {
  readonly url: string
  close(): Promise<void>
}

export async function startMetricsServer(port: number, host: string): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n')
      return
    }
    // Untraced: gauges that query a database would otherwise start a trace per scrape.
    runInContext(untraced().context, () => registry.metrics()).then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, 'METRICS_PORT', port, host)))
    server.listen(port, host, resolve)
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
