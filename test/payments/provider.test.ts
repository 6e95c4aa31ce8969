// The simulated provider stands for the far side of the network: its ledger outlives our process
// (a capture after a restart finds the authorization made before it; tok_flaky's attempt count
// survives), and concurrent calls with one key act once. And what payments does when the provider
// refuses: a refused capture or void is asked again when its key is repeated (the saga can do
// nothing else), a refused refund stands under its key.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { MosaicError } from '../../src/kit/errors.ts'
import { tempDataDir } from '../process.ts'
import { startPaymentsNode, authorization, uid, rejects, type PaymentsNode, type PaymentOut } from './helpers.ts'

const never = new AbortController().signal
const key = (orderId: string, step: string) => ({ key: `${orderId}:${step}`, orderId })

test('the ledger outlives the process: a capture after a restart finds its authorization, tok_flaky its attempt', async (t) => {
  const DATA_DIR = await tempDataDir(t, 'mosaic-payments-provider-')
  const visa = authorization()
  const flaky = authorization({ token: 'tok_flaky' })
  let p: PaymentsNode = await startPaymentsNode({ DATA_DIR })
  try {
    const authorized = await p.invoke('authorizePayment', visa)
    assert.equal(authorized.status, 'authorized')
    await rejects(p.invoke('authorizePayment', flaky), 'provider_unavailable')
  } finally {
    await p.stop()
  }

  // A new process on the same data, with a new provider object: only the database remembers.
  p = await startPaymentsNode({ DATA_DIR })
  try {
    const { id, status } = await p.invoke('authorizePayment', visa)
    assert.equal(status, 'authorized')
    assert.equal(await p.simulated.held(id), true, 'the hold was remembered')
    const captured = await p.invoke('capturePayment', key(visa.orderId, 'capture'))
    assert.equal(captured.status, 'captured')
    assert.equal(captured.captured, visa.amount)
    assert.equal(await p.simulated.held(id), false)
    // The first attempt was counted before the restart: this is the second, and it authorizes.
    assert.equal((await p.invoke('authorizePayment', flaky)).status, 'authorized')
  } finally {
    await p.stop()
  }
})

describe('the simulated provider and refusals', () => {
  let p: PaymentsNode
  before(async () => {
    p = await startPaymentsNode()
  })
  after(() => p?.stop())

  test('concurrent calls with one key: tok_flaky fails once, a capture and a refund act once', async () => {
    const authorizationKey = `auth-${uid()}`
    const request = { idempotencyKey: authorizationKey, token: 'tok_flaky', amountMinor: 10_000n, currency: 'EUR' }
    const answers = await Promise.allSettled(Array.from({ length: 20 }, () => p.simulated.authorize(request, never)))
    const failed = answers.filter((a) => a.status === 'rejected')
    assert.equal(failed.length, 1, 'only the first attempt fails')
    assert.equal((failed[0]!.reason as MosaicError).code, 'provider_unavailable')
    const references = new Set(
      answers.flatMap((a) => (a.status === 'fulfilled' && a.value.outcome === 'authorized' ? [a.value.reference] : [])),
    )
    assert.equal(references.size, 1, 'every other attempt gets the one authorization')
    const reference = [...references][0]!
    assert.equal(await p.simulated.held(authorizationKey), true)

    const capture = { idempotencyKey: `${authorizationKey}:capture`, reference, amountMinor: 10_000n, currency: 'EUR' }
    await Promise.all(Array.from({ length: 20 }, () => p.simulated.capture(capture, never)))
    assert.equal(await p.simulated.held(authorizationKey), false)
    const refund = { idempotencyKey: `${authorizationKey}:r1`, reference, amountMinor: 6_000n, currency: 'EUR' }
    await Promise.all(Array.from({ length: 10 }, () => p.simulated.refund(refund, never)))
    // Captured once (10 000) and refunded once (6 000): 4 000 are left, not a cent more.
    await rejects(
      p.simulated.refund({ ...refund, idempotencyKey: `${authorizationKey}:r2`, amountMinor: 4_001n }, never),
      'bad_request',
    )
    await p.simulated.refund({ ...refund, idempotencyKey: `${authorizationKey}:r3`, amountMinor: 4_000n }, never)
    await rejects(
      p.simulated.capture({ ...capture, idempotencyKey: `${authorizationKey}:c2`, reference: 'sim_unknown' }, never),
      'bad_request',
    )
  })

  test('tok_timeout hangs until its caller gives up, and a repeat hangs too', async () => {
    const request = { idempotencyKey: `auth-${uid()}`, token: 'tok_timeout', amountMinor: 100n, currency: 'EUR' }
    for (let i = 0; i < 2; i++) {
      const started = Date.now()
      await rejects(p.simulated.authorize(request, AbortSignal.timeout(100)), 'deadline_exceeded')
      assert.ok(Date.now() - started >= 90)
    }
    assert.equal(await p.simulated.held(request.idempotencyKey), false)
  })

  test('a capture the provider refused is asked again with the same key, and captures once', async () => {
    const input = authorization()
    const { id } = await p.invoke('authorizePayment', input)
    p.gate.refuseNext = 'capture'
    await rejects(p.invoke('capturePayment', key(input.orderId, 'capture')), 'bad_request')
    assert.equal(await p.simulated.held(id), true, 'nothing was captured')
    const captured = await p.invoke('capturePayment', key(input.orderId, 'capture'))
    assert.equal(captured.status, 'captured')
    assert.equal(captured.captured, input.amount)
    assert.equal(await p.simulated.held(id), false)
    assert.deepEqual(
      await p.invoke('capturePayment', key(input.orderId, 'capture')),
      captured,
      'then the outcome is replayed',
    )
    // Refunding all of it at the provider shows it was captured once, not twice.
    const refunded = await p.invoke('refundPayment', key(input.orderId, 'refund'))
    assert.equal(refunded.status, 'refunded')
  })

  test('a void the provider refused is asked again and releases the hold', async () => {
    const input = authorization()
    const { id } = await p.invoke('authorizePayment', input)
    p.gate.refuseNext = 'void'
    await rejects(p.invoke('voidPayment', key(input.orderId, 'void')), 'bad_request')
    assert.equal(await p.simulated.held(id), true)
    const voided = await p.invoke<PaymentOut | null>('voidPayment', key(input.orderId, 'void'))
    assert.equal(voided?.status, 'voided')
    assert.equal(await p.simulated.held(id), false)
  })

  test('a refused capture is not asked again once the payment was voided', async () => {
    const input = authorization()
    const { id } = await p.invoke('authorizePayment', input)
    p.gate.refuseNext = 'capture'
    await rejects(p.invoke('capturePayment', key(input.orderId, 'capture')), 'bad_request')
    assert.equal((await p.invoke<PaymentOut | null>('voidPayment', key(input.orderId, 'void')))?.status, 'voided')
    await rejects(p.invoke('capturePayment', key(input.orderId, 'capture')), 'payment_state')
    assert.equal(await p.simulated.held(id), false)
  })

  test('a refused refund stands under its key; its amount is free for another key', async () => {
    const input = authorization({ amount: 10 })
    await p.invoke('authorizePayment', input)
    await p.invoke('capturePayment', key(input.orderId, 'capture'))
    p.gate.refuseNext = 'refund'
    await rejects(p.invoke('refundPayment', key(input.orderId, 'refund')), 'bad_request')
    await rejects(p.invoke('refundPayment', key(input.orderId, 'refund')), 'bad_request')
    const refunded = await p.invoke('refundPayment', key(input.orderId, 'refund-2'))
    assert.equal(refunded.refunded, 10)
  })
})
