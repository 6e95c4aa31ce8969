// Bounds on what one client can hold open, so a slow or stalled client (slowloris: a head or a
// body sent a byte at a time, or never finished) cannot use up the server. The timeouts are
// Node's own (server.headersTimeout, requestTimeout, keepAliveTimeout, the socket's idle
// timeout), checked every `checkIntervalMs`. Node has no cap per client address, so that one is
// counted here, from the server's `connection` event: a connection over the cap is closed at once,
// before any byte of it is read.
import type { Server } from 'node:http'

export interface ConnectionLimits {
  /** Time to receive a request's head (HEADERS_TIMEOUT_MS). */
  readonly headersTimeoutMs: number
  /** Time to receive a whole request, head and body (RECEIVE_TIMEOUT_MS). */
  readonly receiveTimeoutMs: number
  /** Time a connection may stay silent (IDLE_TIMEOUT_MS). */
  readonly idleTimeoutMs: number
  /** Time an idle kept-alive connection stays open between requests (KEEP_ALIVE_TIMEOUT_MS). */
  readonly keepAliveTimeoutMs: number
  /** Connections one client address may hold at once (MAX_CONNECTIONS_PER_CLIENT); 0: no cap. */
  readonly maxPerClient: number
}

/** Fastify's options for these limits; `http` is passed through to Node's server. */
export function serverOptions(limits: ConnectionLimits) {
  return {
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the timeouts of incomplete requests this often (every 30 s by default, which
      // would let a stall last 30 s longer than its bound).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    requestTimeout: limits.receiveTimeoutMs, // Fastify sets Node's server.requestTimeout from its own option
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  }
}

export function limitConnectionsPerClient(server: Server, maxPerClient: number): void {
  if (maxPerClient === 0) return
  const open = new Map<string, number>()
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? ''
    const count = (open.get(address) ?? 0) + 1
    if (count > maxPerClient) {
      socket.destroy()
      return
    }
    open.set(address, count)
    socket.once('close', () => {
      const left = open.get(address)! - 1
      if (left === 0) open.delete(address)
      else open.set(address, left)
    })
  })
}
