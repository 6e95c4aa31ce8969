import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createCredentials } from './credentials.ts'
import { MosaicError } from '../errors.ts'

const credentials = createCredentials('a-secret-for-tests-only-0123456789abcdef')
const rejected = (e: unknown) => e instanceof MosaicError && e.code === 'unauthenticated'
const caller = { clientIp: '10.0.0.7', identity: { userId: 'u-1', tenantId: 'default', roles: ['customer'] } }

test('an edge credential verifies to the caller it was signed for, a service credential to its service', async () => {
  assert.deepEqual(await credentials.verifyEdge(credentials.signEdge(caller)), caller)
  assert.deepEqual(await credentials.verifyEdge(credentials.signEdge({ clientIp: '::1' })), { clientIp: '::1' })
  assert.equal(await credentials.verifyCaller(credentials.callerToken('orders')), 'orders')
})

test('tampered, re-headed, foreign and expired credentials are refused', async () => {
  const token = credentials.signEdge(caller)
  const [head, payload, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const forged = Buffer.from(JSON.stringify({ ...claims, user: { ...caller.identity, roles: ['admin'] } })).toString(
    'base64url',
  )
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'mosaic+jwt' })).toString('base64url')
  for (const bad of [
    `${head}.${forged}.${signature}`,
    `${none}.${payload}.`,
    `${none}.${payload}.${signature}`,
    `${token}.x`,
    'garbage',
    '',
  ]) {
    await assert.rejects(credentials.verifyEdge(bad), rejected, bad)
  }
  await assert.rejects(createCredentials('another-secret-entirely-0123456789abcdef').verifyEdge(token), rejected)
  await assert.rejects(credentials.verifyCaller(token), rejected, 'an edge credential is not a service credential')

  mock.timers.enable({ apis: ['Date'], now: Date.now() + 61_000 })
  try {
    await assert.rejects(
      credentials.verifyEdge(token),
      (e: unknown) => rejected(e) && /expired/.test((e as Error).message),
    )
  } finally {
    mock.timers.reset()
  }
})
