// The security headers every answer of the gateway carries, as helmet computes them, computed once
// at start. @fastify/helmet builds helmet's middleware anew for every request (it parses the CSP
// directives and dashifies their names each time): about 4 % of the gateway's CPU on a proxied read.
// Our options are static (no nonces, nothing read from the request), so the answer is the same
// for every request: helmet is run once against a stand-in response and what it set is kept.
import helmet, { type HelmetOptions } from 'helmet'

export function edgeHeaders(options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  }
  let error: unknown
  helmet(options)({} as never, response as never, (failure?: unknown) => {
    error = failure
  })
  if (error) throw error
  return Object.freeze(headers)
}
