// The payments actions the checkout saga calls: each test token's outcome, idempotency by key
// (repeats and 20 concurrent calls), void before authorize, timeouts with a late provider answer,
// capture and refund rules, and bad input. Called as another service would, with a deadline.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { CloudEvent } from '../../src/kit/contract.ts'
import { MosaicError } from '../../src/kit/errors.ts'
import { eventually } from '../helpers/wait.ts'
import { startPaymentsNode, authorization, uid, rejects, type PaymentsNode, type PaymentOut } from './helpers.ts'
import { spy } from '../helpers/bus.ts'
import { drained } from '../helpers/drained.ts'

const eventTypes = ['payment.authorized', 'payment.captured', 'payment.declined', 'payment.voided', 'payment.refunded']

describe('payments actions', () => {
  let p: PaymentsNode
  const events: CloudEvent<{ orderId: string; amount: number; refunded?: number; reason?: string }>[] = []
  const eventsOf = (orderId: string) => events.filter((e) => e.data.orderId === orderId).map((e) => e.type)

  before(async () => {
    p = await startPaymentsNode()
    for (const type of eventTypes) {
      await spy(p.node, { id: `payments-test/${type}`, consumer: 'payments', source: 'payments', type }, (event) =>
        events.push(event as never),
      )
    }
  })
  after(() => p?.stop())

  test('tok_visa authorizes, and capture takes the amount', async () => {
    const input = authorization()
    const authorized = await p.invoke('authorizePayment', input)
    assert.equal(authorized.status, 'authorized')
    assert.equal(authorized.amount, 59.98)
    assert.equal(authorized.captured, 0)
    assert.equal(authorized.declineReason, null)
    const captured = await p.invoke('capturePayment', { key: `${input.orderId}:capture`, orderId: input.orderId })
    assert.equal(captured.status, 'captured')
    assert.equal(captured.captured, 59.98)
    assert.equal(captured.id, authorized.id)
    assert.equal(await p.simulated.held(authorized.id), false)
    await eventually('events', () => eventsOf(input.orderId).length === 2)
    assert.deepEqual(eventsOf(input.orderId), ['payment.authorized', 'payment.captured'])
  })

  for (const [token, reason] of [
    ['tok_declined', 'card_declined'],
    ['tok_insufficient_funds', 'insufficient_funds'],
    ['tok_mastercard', 'card_declined'],
  ] as const) {
    test(`${token} is declined (${reason}), as an outcome not an error`, async () => {
      const input = authorization({ token })
      const declined = await p.invoke('authorizePayment', input)
      assert.equal(declined.status, 'declined')
      assert.equal(declined.declineReason, reason)
      // Nothing to capture; a void releases nothing and says so.
      await rejects(
        p.invoke('capturePayment', { key: `${input.orderId}:capture`, orderId: input.orderId }),
        'payment_state',
      )
      assert.equal(
        (await p.invoke('voidPayment', { key: `${input.orderId}:void`, orderId: input.orderId })).status,
        'declined',
      )
      await eventually('declined event', () => eventsOf(input.orderId).length === 1)
      const event = events.find((e) => e.data.orderId === input.orderId)!
      assert.equal(event.type, 'payment.declined')
      assert.equal(event.data.reason, reason)
    })
  }

  test('tok_flaky fails its first attempt retryably, then succeeds with the same key', async () => {
    const input = authorization({ token: 'tok_flaky' })
    const error = await rejects(p.invoke('authorizePayment', input), 'provider_unavailable')
    assert.equal(error.retryable, true)
    assert.equal(error.status, 503)
    const second = await p.invoke('authorizePayment', input)
    assert.equal(second.status, 'authorized')
    assert.deepEqual(await p.invoke('authorizePayment', input), second)
  })

  test('tok_timeout does not answer before the deadline; the void that follows leaves nothing held', async () => {
    const input = authorization({ token: 'tok_timeout' })
    const started = Date.now()
    await rejects(p.invoke('authorizePayment', input, 300), 'deadline_exceeded')
    assert.ok(Date.now() - started >= 290, 'answered before its deadline')
    const voided = await p.invoke<PaymentOut | null>('voidPayment', {
      key: `${input.orderId}:void`,
      orderId: input.orderId,
    })
    assert.equal(voided?.status, 'voided')
    // The authorization, repeated with its key, now finds the void.
    assert.equal((await p.invoke('authorizePayment', input)).status, 'voided')
    assert.equal(await p.simulated.held(voided!.id), false)
    await eventually('voided event', () => eventsOf(input.orderId).includes('payment.voided'))
    assert.deepEqual(eventsOf(input.orderId), ['payment.voided'])
  })

  test('an authorization the provider grants after the caller gave up and voided is released', async () => {
    let release!: () => void
    p.gate.holdBack = new Promise((resolve) => {
      release = resolve
    })
    const input = authorization()
    try {
      await rejects(p.invoke('authorizePayment', input, 200), 'deadline_exceeded')
    } finally {
      p.gate.holdBack = undefined
    }
    const voided = await p.invoke<PaymentOut | null>('voidPayment', {
      key: `${input.orderId}:void`,
      orderId: input.orderId,
    })
    assert.equal(voided?.status, 'voided')
    release()
    // The provider now holds the money, until the payments service sees the answer and releases it.
    await eventually(
      'the late hold to be released',
      // Answered first (until then nothing is held, and there is nothing yet to release), then released.
      async () => p.gate.lateAnswers > 0 && !(await p.simulated.held(voided!.id)),
    )
    await drained(p.node)
    assert.equal(await p.simulated.held(voided!.id), false)
    const again = await p.invoke('authorizePayment', input)
    assert.equal(again.status, 'voided')
    await rejects(
      p.invoke('capturePayment', { key: `${input.orderId}:capture`, orderId: input.orderId }),
      'payment_state',
    )
  })

  test('void before any authorization: the late authorization holds nothing', async () => {
    const input = authorization()
    assert.equal(await p.invoke('voidPayment', { key: `${input.orderId}:void`, orderId: input.orderId }), null)
    const calls = p.gate.authorizeCalls
    const late = await p.invoke('authorizePayment', input)
    assert.equal(late.status, 'voided')
    assert.equal(late.amount, 59.98)
    assert.equal(late.userId, input.userId)
    assert.equal(p.gate.authorizeCalls, calls, 'the provider was asked')
    // Both keys replay their first outcome.
    assert.equal(await p.invoke('voidPayment', { key: `${input.orderId}:void`, orderId: input.orderId }), null)
    assert.deepEqual(await p.invoke('authorizePayment', input), late)
  })

  test('every action repeated with its key returns the first outcome', async () => {
    const input = authorization()
    const key = (step: string) => ({ key: `${input.orderId}:${step}`, orderId: input.orderId })
    const authorized = await p.invoke('authorizePayment', input)
    const captured = await p.invoke('capturePayment', key('capture'))
    const refunded = await p.invoke('refundPayment', { ...key('refund-1'), amount: 10 })
    assert.equal(refunded.status, 'partially_refunded')
    assert.equal(refunded.refunded, 10)
    // Later changes do not alter what each key answered.
    assert.deepEqual(await p.invoke('authorizePayment', input), authorized)
    assert.deepEqual(await p.invoke('capturePayment', key('capture')), captured)
    assert.deepEqual(await p.invoke('refundPayment', { ...key('refund-1'), amount: 10 }), refunded)
    assert.equal((await p.invoke('refundPayment', { ...key('refund-2') })).status, 'refunded')
    assert.deepEqual(await p.invoke('refundPayment', { ...key('refund-1'), amount: 10 }), refunded)
    // A key is for one request: another amount or another action with it is refused.
    await rejects(p.invoke('refundPayment', { ...key('refund-1'), amount: 11 }), 'idempotency_key_reused')
    await rejects(p.invoke('voidPayment', key('capture')), 'idempotency_key_reused')
    await eventually(
      'refund events',
      () => eventsOf(input.orderId).filter((t) => t === 'payment.refunded').length === 2,
    )
    assert.deepEqual(eventsOf(input.orderId), [
      'payment.authorized',
      'payment.captured',
      'payment.refunded',
      'payment.refunded',
    ])
  })

  test('20 concurrent authorizations with one key: one payment, one provider call, identical answers', async () => {
    const input = authorization()
    const calls = p.gate.authorizeCalls
    const answers = await Promise.all(Array.from({ length: 20 }, () => p.invoke('authorizePayment', input)))
    assert.equal(p.gate.authorizeCalls - calls, 1)
    for (const answer of answers) assert.deepEqual(answer, answers[0])
    assert.equal(answers[0]!.status, 'authorized')
    const [{ n }] = (await p.node.engine.admin.query<{ n: bigint }>(
      'select count(*) as n from payments.payments where order_id = $1',
      [input.orderId],
    )) as [{ n: bigint }]
    assert.equal(n, 1n)
  })

  test('concurrent authorizations of one order with different keys still make one payment', async () => {
    const input = authorization()
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => p.invoke('authorizePayment', { ...input, key: `${input.key}-${i}` })),
    )
    assert.equal(new Set(answers.map((a) => a.id)).size, 1)
    assert.ok(answers.every((a) => a.status === 'authorized'))
    // The same order for another amount or customer is a mistake, not a second payment.
    await rejects(p.invoke('authorizePayment', { ...input, key: `${input.key}-x`, amount: 1 }), 'conflict')
  })

  test('void of a captured payment is refused: the saga refunds it instead', async () => {
    const input = authorization()
    await p.invoke('authorizePayment', input)
    await p.invoke('capturePayment', { key: `${input.orderId}:capture`, orderId: input.orderId })
    await rejects(p.invoke('voidPayment', { key: `${input.orderId}:void`, orderId: input.orderId }), 'payment_state')
    const refunded = await p.invoke('refundPayment', { key: `${input.orderId}:refund`, orderId: input.orderId })
    assert.equal(refunded.status, 'refunded')
    assert.equal(refunded.refunded, 59.98)
  })

  test('an authorized payment is voided; capture is then refused', async () => {
    const input = authorization()
    const authorized = await p.invoke('authorizePayment', input)
    assert.equal(await p.simulated.held(authorized.id), true)
    const voided = await p.invoke<PaymentOut | null>('voidPayment', {
      key: `${input.orderId}:void`,
      orderId: input.orderId,
    })
    assert.equal(voided?.status, 'voided')
    assert.equal(await p.simulated.held(authorized.id), false)
    await rejects(
      p.invoke('capturePayment', { key: `${input.orderId}:capture`, orderId: input.orderId }),
      'payment_state',
    )
    await rejects(
      p.invoke('refundPayment', { key: `${input.orderId}:refund`, orderId: input.orderId }),
      'payment_state',
    )
  })

  test('refunds: partial, the rest, then nothing more; concurrent refunds never exceed the capture', async () => {
    const input = authorization({ amount: 100 })
    const key = (step: string) => ({ key: `${input.orderId}:${step}`, orderId: input.orderId })
    await p.invoke('authorizePayment', input)
    await p.invoke('capturePayment', key('capture'))
    await rejects(p.invoke('refundPayment', { ...key('too-much'), amount: 100.01 }), 'refund_exceeds_capture')
    // 30 concurrent refunds of 7 each: 14 fit in 100, the rest are refused.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => p.invoke('refundPayment', { ...key(`r${i}`), amount: 7 })),
    )
    const ok = outcomes.filter((o) => o.status === 'fulfilled')
    assert.equal(ok.length, 14)
    for (const o of outcomes)
      if (o.status === 'rejected') assert.equal((o.reason as MosaicError).code, 'refund_exceeds_capture')
    const rest = await p.invoke('refundPayment', key('rest'))
    assert.equal(rest.refunded, 100)
    assert.equal(rest.status, 'refunded')
    await rejects(p.invoke('refundPayment', key('more')), 'refund_exceeds_capture')
    await rejects(p.invoke('refundPayment', { ...key('more-1'), amount: 0.01 }), 'refund_exceeds_capture')
  })

  test('bad input is refused before anything is written', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ token: 'visa' }, '/token'],
      [{ token: 'tok_<script>' }, '/token'],
      [{ amount: -1 }, '/amount'],
      [{ amount: 10.001 }, '/amount'],
      [{ currency: 'ZZZ' }, '/currency'],
      [{ currency: 'usd' }, '/currency'],
      [{ amount: '10' }, '/amount'],
      [{ extra: true }, '/extra'],
    ]
    for (const [overrides, path] of bad) {
      const input = authorization(overrides)
      const error = await rejects(p.invoke('authorizePayment', input), 'validation_failed')
      assert.ok(
        error.issues.some((i) => i.path === path),
        `${JSON.stringify(overrides)}: ${JSON.stringify(error.issues)}`,
      )
      const rows = await p.node.engine.admin.query('select 1 from payments.payments where order_id = $1', [
        input.orderId,
      ])
      assert.equal(rows.length, 0)
    }
    // JPY has no minor unit: 100.5 yen is not an amount.
    await rejects(p.invoke('authorizePayment', authorization({ currency: 'JPY', amount: 100.5 })), 'validation_failed')
    assert.equal((await p.invoke('authorizePayment', authorization({ currency: 'JPY', amount: 1500 }))).amount, 1500)
    await rejects(p.invoke('capturePayment', { key: uid(), orderId: `ord-${uid()}` }), 'not_found')
    await rejects(p.invoke('refundPayment', { key: uid(), orderId: `ord-${uid()}`, amount: -5 }), 'validation_failed')
  })
})
