import { test } from 'node:test'
import assert from 'node:assert/strict'
import { callContexts } from './call-context.ts'
import type { ServiceContext, Client } from '../service.ts'
import type { Contract } from '../contract.ts'

test("a call's context reads the service's as it is now, and its own deadline, caller and answer", () => {
  const service = { name: 'shop', state: undefined } as unknown as {
    -readonly [K in keyof ServiceContext]: ServiceContext[K]
  }
  const made: number[] = []
  const contexts = callContexts(service, (_contract, deadline) => {
    made.push(deadline)
    return {} as Client<Contract>
  })
  const call = contexts.call(1000)
  service.state = { started: true } // as `start` returning sets it, after contexts were made
  assert.equal(call.name, 'shop')
  assert.deepEqual(call.state, { started: true })
  assert.equal(call.deadline, 1000)
  call.client({} as Contract)
  assert.deepEqual(made, [1000], "a client's calls inherit the deadline")
  assert.equal(call.signal, call.signal, 'one signal per call, made when asked')

  const headers: [string, string][] = []
  let status: number | undefined
  const route = contexts.route(2000, {
    clientIp: '10.0.0.1',
    identity: { userId: 'u1', tenantId: 't', roles: [] },
    setHeader: (name, value) => void headers.push([name, value]),
    setStatus: (code) => void (status = code),
  })
  route.setHeader('location', '/x')
  route.setStatus(201)
  assert.deepEqual([route.clientIp, route.identity?.userId, route.deadline], ['10.0.0.1', 'u1', 2000])
  assert.deepEqual([headers, status], [[['location', '/x']], 201])
  // A caller that is not HTTP may leave setStatus out.
  contexts.route(2000, { clientIp: '127.0.0.1', setHeader: () => {} }).setStatus(204)
})
