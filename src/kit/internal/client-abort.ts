// A client that closes its connection before its request is whole (a cancelled upload, a
// slowloris probe cut off by a timeout) is not a failure of the server: it is counted and logged
// as a warning at most once per interval, with the number seen, instead of an error with a stack
// trace per request (one slowloris run wrote 800 such lines).
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

/** True when the request's connection is already closed: nobody is left to answer. */
export const clientGone = (request: FastifyRequest): boolean => request.raw.socket?.destroyed === true

export function createAbortLog(log: Logger, everyMs = 10_000): (request: FastifyRequest) => void {
  let last = -Infinity
  let unlogged = 0
  return (request) => {
    unlogged++
    const now = performance.now()
    if (now - last < everyMs) return
    log.warn(
      { aborted: unlogged, route: request.routeOptions.url, client: request.ip, intervalMs: everyMs },
      'clients closed their connections before their requests were complete',
    )
    last = now
    unlogged = 0
  }
}
