// Who is calling: the identity the gateway verified at the edge and passes inward. Services never
// read identity from request headers; the platform hands it to them (see internal/credentials.ts).
import type { Principal } from './authz.ts'
import { MosaicError } from './errors.ts'

export interface Identity extends Principal {
  /** The sign-in this request belongs to (a browser session or a refresh-token family). */
  readonly sessionId?: string
}

/** The caller, as the platform saw it: who (if signed in) and from which address. */
export interface Caller {
  readonly identity?: Identity
  readonly clientIp: string
}

/** The signed-in caller, or 401: for handlers of routes that need one. */
export function requireIdentity(caller: { readonly identity?: Identity }): Identity {
  if (!caller.identity) throw new MosaicError('unauthenticated')
  return caller.identity
}
