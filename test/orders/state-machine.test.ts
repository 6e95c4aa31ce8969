// Property tests of the order's pure core (decide/evolve/replay and the saga's plan) with
// fast-check: against a small model of how a checkout must end, with step outcomes redelivered
// (the same command recorded again) and the events delivered to the projection out of order and
// more than once. The catalog and payments are simulated as far as the invariants need: what each
// holds for the order at the end (stock = initial − confirmed quantities; money only for a confirmed order).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decide,
  evolve,
  replay,
  initialState,
  holdsMoney,
  holdsStock,
  type Command,
  type OrderState,
  type Recorded,
  type Reason,
} from '../../src/services/orders/order.ts'
import { plan, FORWARD, type Step } from '../../src/services/orders/saga-plan.ts'
import { decideAll } from '../../src/services/orders/commands.ts'

type CancelPoint = Step | 'after-confirm' | 'never'

interface Scenario {
  stock: boolean
  payment: 'ok' | 'declined' | 'timeout' | 'flaky'
  /** Past the pivot: the commit and the capture succeed, fail once retryably, or are refused for good. */
  commit: 'ok' | 'flaky' | 'refused'
  capture: 'ok' | 'flaky' | 'refused'
  /** When the customer asks to cancel: just before this step of the saga runs, or after it confirmed. */
  cancel: CancelPoint
  /** How many times each step's outcome is recorded (a redelivery after a crash). */
  deliveries: number[]
}

/** The model: how the checkout must end, from the scenario alone. */
function expected(s: Scenario): { status: 'CONFIRMED' | 'CANCELLED'; reason: Reason | null; refunded: boolean } {
  const cancelled = (refunded: boolean) => ({
    status: 'CANCELLED' as const,
    reason: 'cancelled_by_customer' as const,
    refunded,
  })
  if (s.cancel === 'reserve') return cancelled(false)
  if (!s.stock) return { status: 'CANCELLED', reason: 'out_of_stock', refunded: false }
  if (s.cancel === 'authorize') return cancelled(false)
  if (s.payment === 'declined') return { status: 'CANCELLED', reason: 'payment_declined', refunded: false }
  if (s.payment === 'timeout') return { status: 'CANCELLED', reason: 'timeout', refunded: false }
  if (s.cancel === 'commit') return cancelled(false)
  // Past the pivot a delay is waited out, but a refusal compensates.
  if (s.commit === 'refused') return { status: 'CANCELLED', reason: 'out_of_stock', refunded: false }
  if (s.capture === 'refused') return { status: 'CANCELLED', reason: 'payment_declined', refunded: false }
  // Otherwise the checkout completes, and a cancel refunds it (and gives the stock back).
  if (s.cancel !== 'never') return cancelled(true)
  return { status: 'CONFIRMED', reason: null, refunded: false }
}

/** What the simulated catalog and payments hold for the order. */
interface World {
  reservation: 'none' | 'reserved' | 'committed' | 'released'
  payment: 'none' | 'authorized' | 'declined' | 'captured' | 'voided' | 'refunded'
}

/** Runs a checkout through plan → (simulated catalog and payments) → decide → evolve. */
function simulate(s: Scenario): { state: OrderState; log: Recorded[]; world: World } {
  let state = initialState()
  const log: Recorded[] = []
  let clock = 0
  const apply = (command: Command): void => {
    for (const event of decide(state, command)) {
      const recorded = { ...event, version: state.version + 1, at: new Date(clock * 1000).toISOString() } as Recorded
      log.push(recorded)
      state = evolve(state, recorded)
    }
  }
  apply({
    type: 'place',
    orderId: 'o1',
    userId: 'u1',
    tenantId: 't',
    items: [{ productId: 'p', name: 'P', quantity: 2, unitPriceMinor: '150' }],
    currency: 'EUR',
  })
  const saga = {
    phase: 'forward' as 'forward' | 'compensate' | 'done',
    reached: 0,
    deadlineAt: 20,
    reason: null as Reason | null,
  }
  const world: World = { reservation: 'none', payment: 'none' }
  const flaked = new Set<Step>()
  /** A flaky step fails retryably the first time it is called. */
  const flakes = (step: Step, flaky: boolean): boolean => flaky && !flaked.has(step) && flaked.add(step) !== undefined
  let cancelAsked = false
  const askCancel = (): void => {
    cancelAsked = true
    apply({ type: 'requestCancel' })
  }
  for (let steps = 0; steps < 200; steps++, clock++) {
    let next = plan(state, saga, clock)
    if (next.kind === 'step' && next.step === s.cancel && !cancelAsked) {
      askCancel()
      next = plan(state, saga, clock)
    }
    if (next.kind === 'finish') {
      if (s.cancel !== 'after-confirm' || cancelAsked || state.status !== 'CONFIRMED') return { state, log, world }
      askCancel() // as the cancel route does: the finished saga runs again
      continue
    }
    if (next.kind === 'compensate') {
      Object.assign(saga, { phase: 'compensate', reason: next.reason })
      continue
    }
    const step: Step = next.step
    saga.reached = Math.max(saga.reached, FORWARD.indexOf(step) + 1)
    let outcome: Command | 'retry' | Reason
    // Each simulated call changes the world as catalog and payments would, idempotently.
    switch (step) {
      case 'reserve':
        if (s.stock && world.reservation === 'none') world.reservation = 'reserved'
        outcome = world.reservation === 'reserved' ? { type: 'recordReserved' } : 'out_of_stock'
        break
      case 'authorize':
        if (s.payment === 'timeout' || flakes(step, s.payment === 'flaky')) {
          outcome = 'retry'
          break
        }
        if (world.payment === 'none') world.payment = s.payment === 'declined' ? 'declined' : 'authorized'
        outcome =
          world.payment === 'declined'
            ? { type: 'recordDeclined', reason: 'card_declined' }
            : { type: 'recordAuthorized', paymentId: 'pay1' }
        break
      case 'commit':
        if (flakes(step, s.commit === 'flaky')) {
          outcome = 'retry'
          break
        }
        // Refused: the reservation was closed meanwhile (reservation_closed), its stock back on the shelf.
        if (s.commit === 'refused' && world.reservation === 'reserved') world.reservation = 'released'
        if (world.reservation === 'reserved') world.reservation = 'committed'
        outcome = world.reservation === 'committed' ? { type: 'recordCommitted' } : 'out_of_stock'
        break
      case 'capture':
        if (flakes(step, s.capture === 'flaky')) {
          outcome = 'retry'
          break
        }
        if (s.capture !== 'refused' && world.payment === 'authorized') world.payment = 'captured'
        outcome = world.payment === 'captured' ? { type: 'recordCaptured', paymentId: 'pay1' } : 'payment_declined'
        break
      case 'confirm':
        outcome = { type: 'confirm' }
        break
      case 'refund':
        if (world.payment === 'captured') world.payment = 'refunded'
        outcome = { type: 'recordRefunded' }
        break
      case 'void':
        assert.notEqual(world.payment, 'captured', 'a captured payment is refunded, not voided')
        if (world.payment === 'authorized' || world.payment === 'none') world.payment = 'voided'
        outcome = { type: 'recordVoided' }
        break
      case 'release':
        // Reserved or committed, the stock goes back; released before any reservation, a late one holds nothing.
        world.reservation = 'released'
        outcome = { type: 'recordReleased' }
        break
      case 'cancel':
        outcome = { type: 'cancel', reason: saga.reason!, detail: null }
        break
    }
    if (outcome === 'retry') continue
    if (typeof outcome === 'string') {
      Object.assign(saga, { phase: 'compensate', reason: outcome })
      continue
    }
    // A redelivered outcome (recorded again after a crash) must change nothing more.
    const times = s.deliveries[steps % s.deliveries.length]!
    for (let i = 0; i < times; i++) apply(outcome)
  }
  throw new Error('the saga did not finish')
}

const scenarios = fc.record({
  stock: fc.boolean(),
  payment: fc.constantFrom('ok', 'declined', 'timeout', 'flaky'),
  commit: fc.constantFrom('ok', 'flaky', 'refused'),
  capture: fc.constantFrom('ok', 'flaky', 'refused'),
  cancel: fc.constantFrom<CancelPoint>(
    'reserve',
    'authorize',
    'commit',
    'capture',
    'confirm',
    'after-confirm',
    'never',
  ),
  deliveries: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 6 }),
}) as fc.Arbitrary<Scenario>

test('every checkout ends as the model says, and in a state that holds nothing it should not', () => {
  fc.assert(
    fc.property(scenarios, (s) => {
      const { state, world } = simulate(s)
      const want = expected(s)
      const what = JSON.stringify({ s, world })
      assert.equal(state.status, want.status, what)
      assert.equal(state.reason, want.reason, what)
      assert.equal(state.refunded, want.refunded, what)
      if (state.status === 'CONFIRMED') {
        assert.ok(state.captured && state.committed && !state.refunded && !state.released)
        // The only order the world keeps stock and money for.
        assert.deepEqual(world, { reservation: 'committed', payment: 'captured' }, what)
      }
      if (state.status === 'CANCELLED') {
        // Every charged-then-cancelled order is voided or refunded; no stock stays reserved or sold.
        assert.ok(!holdsMoney(state) && !holdsStock(state), JSON.stringify(state))
        assert.ok(['none', 'released'].includes(world.reservation), what)
        assert.ok(['none', 'declined', 'voided', 'refunded'].includes(world.payment), what)
      }
    }),
    { numRuns: 500 },
  )
})

test('the projection of redelivered, reordered events equals the in-order fold', () => {
  fc.assert(
    fc.property(
      scenarios,
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.integer({ min: 1, max: 5 }),
      (s, picks, batches) => {
        const { state, log } = simulate(s)
        // Each event delivered 1+ times, shuffled, in `batches` deliveries; the projection folds each batch as it comes.
        const deliveries = [...log, ...picks.map((i) => log[i % log.length]!)]
        const shuffled = fc.sample(fc.shuffledSubarray(deliveries, { minLength: deliveries.length }), {
          numRuns: 1,
          seed: picks.length + batches,
        })[0]!
        let view = initialState()
        const size = Math.ceil(shuffled.length / batches)
        for (let i = 0; i < shuffled.length; i += size) view = replay(view, shuffled.slice(i, i + size))
        // What arrived after a gap waits for the missing version: one more pass over everything delivered.
        view = replay(view, shuffled)
        assert.deepEqual(view, state)
        assert.deepEqual(replay(initialState(), log), state)
      },
    ),
    { numRuns: 300 },
  )
})

test("any sequence of commands keeps the order's invariants, and a repeated command decides nothing new", () => {
  const commands: fc.Arbitrary<Command> = fc.oneof(
    ...(
      [
        'recordReserved',
        'recordCommitted',
        'confirm',
        'requestCancel',
        'recordVoided',
        'recordRefunded',
        'recordReleased',
      ] as const
    ).map((type) => fc.constant({ type } as Command)),
    fc.constant({ type: 'recordAuthorized', paymentId: 'pay' } as Command),
    fc.constant({ type: 'recordDeclined', reason: 'card_declined' } as Command),
    fc.constant({ type: 'recordCaptured', paymentId: 'pay' } as Command),
    fc
      .constantFrom<Reason>('out_of_stock', 'payment_declined', 'timeout', 'cancelled_by_customer')
      .map((reason) => ({ type: 'cancel', reason, detail: null }) as Command),
  )
  fc.assert(
    fc.property(fc.array(commands, { maxLength: 40 }), (sequence) => {
      let state = evolve(initialState(), {
        type: 'order.placed',
        version: 1,
        at: '2026-01-01T00:00:00.000Z',
        data: { orderId: 'o', userId: 'u', tenantId: 't', items: [], totalMinor: '0', currency: 'EUR' },
      })
      for (const command of sequence) {
        const before = state
        let events: ReturnType<typeof decide>
        try {
          events = decide(state, command)
        } catch {
          continue
        }
        for (const event of events)
          state = evolve(state, { ...event, version: state.version + 1, at: before.updatedAt } as Recorded)
        // The same command again (a redelivery) decides nothing new.
        assert.deepEqual(decide(state, command), [], `${command.type} is not idempotent`)
        // Transitions: never out of CANCELLED; CONFIRMED only from PENDING.
        if (before.status === 'CANCELLED') assert.equal(state.status, 'CANCELLED')
        if (state.status === 'CONFIRMED' && before.status !== 'CONFIRMED')
          assert.ok(state.captured && state.committed && !state.released)
        if (state.status === 'CONFIRMED') assert.ok(state.captured && state.committed)
        if (state.status === 'CANCELLED') assert.ok(!holdsMoney(state) && !holdsStock(state))
        if (state.captured) assert.ok(state.committed && state.authorized)
        if (state.committed) assert.ok(state.reserved && state.authorized)
      }
    }),
    { numRuns: 500 },
  )
})

test('a command and its follow-up decide together; a refused follow-up leaves the events of the first', () => {
  const placed = replay(initialState(), [
    ...[
      {
        type: 'order.placed',
        data: { orderId: 'o1', userId: 'u1', tenantId: 't1', items: [], totalMinor: '100', currency: 'EUR' },
      },
      { type: 'order.stock_reserved', data: {} },
      { type: 'order.payment_authorized', data: { paymentId: 'p1' } },
      { type: 'order.stock_committed', data: {} },
    ].map((e, i) => ({ ...e, version: i + 1, at: '2026-11-29T18:00:00.000Z' }) as Recorded),
  ])
  const confirmAfterCapture = {
    first: { type: 'recordCaptured', paymentId: 'p1' } as Command,
    next: (s: OrderState) => (s.status === 'PENDING' ? ({ type: 'confirm' } as Command) : undefined),
  }
  assert.deepEqual(
    decideAll(placed, confirmAfterCapture).map((e) => e.type),
    ['order.payment_captured', 'order.confirmed'],
  )
  // Confirming is refused once the stock went back: the capture is still recorded.
  const released = evolve(placed, { type: 'order.stock_released', data: {}, version: 5, at: placed.updatedAt })
  assert.deepEqual(
    decideAll(released, confirmAfterCapture).map((e) => e.type),
    ['order.payment_captured'],
  )
  // The first command refused is refused as before.
  assert.throws(() => decideAll(initialState(), confirmAfterCapture), /no such order/)
})
