// The context a handler is given for one request, action call or event: the service's context
// plus the call's deadline (and, for a request, who is calling). Made for every call, so it is an
// object that holds only what differs per call and reaches the rest through its prototype, the
// service's context, instead of a copy of that context spread into each (with a signal getter and
// a client closure, a tenth of the work of a cached read's call into its service).
import type { Contract } from '../contract.ts'
import type { CallContext, Client, RouteContext, ServiceContext } from '../service.ts'
import type { Caller, Identity } from '../identity.ts'

/** What the HTTP layer knows about a request besides its input. */
export interface RouteRequest extends Caller {
  setHeader(name: string, value: string): void
  /** Absent for callers that are not HTTP (tests driving a handler): the route's own status stands. */
  setStatus?(status: number): void
}

export interface CallContexts {
  call(deadline: number): CallContext
  route(deadline: number, request: RouteRequest): RouteContext
}

/**
 * Contexts of calls into the service whose context is `service`: what it holds is read from it as
 * it is then (its `state` once `start` has returned). `client` makes a client whose calls inherit
 * the deadline.
 */
export function callContexts(
  service: ServiceContext,
  client: (contract: Contract, deadline: number) => Client<Contract>,
): CallContexts {
  class Call {
    readonly deadline: number
    #signal: AbortSignal | undefined
    constructor(deadline: number) {
      this.deadline = deadline
    }
    /** Made only if someone asks for it: a timer per call is not free. */
    get signal(): AbortSignal {
      return (this.#signal ??= AbortSignal.timeout(Math.max(0, this.deadline - Date.now())))
    }
    client<D extends Contract>(contract: D): Client<D> {
      return client(contract, this.deadline) as Client<D>
    }
  }
  Object.setPrototypeOf(Call.prototype, service)

  class RouteCall extends Call {
    readonly identity: Identity | undefined
    readonly clientIp: string
    readonly #request: RouteRequest
    constructor(deadline: number, request: RouteRequest) {
      super(deadline)
      this.identity = request.identity
      this.clientIp = request.clientIp
      this.#request = request
    }
    setHeader(name: string, value: string): void {
      this.#request.setHeader(name, value)
    }
    setStatus(status: number): void {
      this.#request.setStatus?.(status)
    }
  }

  return {
    call: (deadline) => new Call(deadline) as unknown as CallContext,
    route: (deadline, request) => new RouteCall(deadline, request) as unknown as RouteContext,
  }
}
