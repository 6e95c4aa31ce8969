// Shared by the payments suites: a gateway node with identity and payments in-process on a fresh
// PGlite in memory (or a given DATABASE_URL), a provider the tests can hold back, and helpers to
// call actions the way the checkout saga does.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import { createPaymentsService } from '../../src/services/payments/service.ts'
import {
  createSimulatedProvider,
  type PaymentProvider,
  type SimulatedProvider,
  type LedgerDb,
} from '../../src/services/payments/provider.ts'
import { MosaicError, type Static } from '../../src/kit/index.ts'
import type { Payment } from '../../src/services/payments/contract.ts'
import { adminEnv } from '../auth.ts'

export type PaymentOut = Static<typeof Payment>

/**
 * The simulated provider (built on the node's database when payments starts), with a gate: while
 * `holdBack` is set, authorizations wait for it and ignore their caller's signal, as a real
 * provider's answer that arrives after the caller gave up; `refuseNext` refuses one call. `simulated()` is
 * the provider itself.
 */
export function gatedProvider() {
  const gate = {
    holdBack: undefined as Promise<void> | undefined,
    authorizeCalls: 0,
    /** Authorizations held back that the provider has since answered (its ledger written). */
    lateAnswers: 0,
    /** The next call of this kind is refused (bad_request) without reaching the ledger, as by a provider that lost track. */
    refuseNext: undefined as 'capture' | 'void' | 'refund' | undefined,
  }
  const refusing = (kind: 'capture' | 'void' | 'refund'): void => {
    if (gate.refuseNext !== kind) return
    gate.refuseNext = undefined
    throw new MosaicError('bad_request', { detail: `simulated refusal of a ${kind}` })
  }
  let built: SimulatedProvider | undefined
  /** The provider the running service built. */
  const simulated = (): SimulatedProvider => {
    if (!built) throw new Error('the payments service has not started')
    return built
  }
  const build = (db: LedgerDb): PaymentProvider => {
    const inner = (built = createSimulatedProvider(db))
    return {
      ...inner,
      async authorize(request, signal) {
        gate.authorizeCalls++
        const holdBack = gate.holdBack
        if (holdBack) {
          await holdBack
          const result = await inner.authorize(request, new AbortController().signal)
          gate.lateAnswers++
          return result
        }
        return inner.authorize(request, signal)
      },
      capture: async (request, signal) => {
        refusing('capture')
        return inner.capture(request, signal)
      },
      void: async (request, signal) => {
        refusing('void')
        return inner.void(request, signal)
      },
      refund: async (request, signal) => {
        refusing('refund')
        return inner.refund(request, signal)
      },
    }
  }
  return { build, simulated, gate }
}

export interface PaymentsNode {
  readonly node: MosaicNode
  readonly url: string
  readonly gate: ReturnType<typeof gatedProvider>['gate']
  readonly simulated: SimulatedProvider
  /** Calls an action as another service would, with `timeoutMs` to its deadline. */
  invoke<T = PaymentOut>(action: string, input: unknown, timeoutMs?: number): Promise<T>
  stop(): Promise<void>
}

export async function startPaymentsNode(env: NodeJS.ProcessEnv = {}): Promise<PaymentsNode> {
  const { build, simulated, gate } = gatedProvider()
  const node = await startNode({
    role: 'gateway',
    services: [identity, createPaymentsService({ provider: build })],
    port: 0,
    env: { HOST: '127.0.0.1', DATA_DIR: ':memory:', LOG_LEVEL: 'silent', EVENT_POLL_MS: '20', ...adminEnv, ...env },
  })
  const payments = node.services.get('payments')!
  return {
    node,
    url: node.url,
    gate,
    simulated: simulated(),
    invoke: async (action, input, timeoutMs = 5000) =>
      structuredClone(await payments.invoke(action, input, Date.now() + timeoutMs)) as never,
    stop: () => node.stop(),
  }
}

export const uid = (): string => randomUUID().slice(0, 8)

/** The input of authorizePayment for a fresh order. */
export function authorization(overrides: Record<string, unknown> = {}) {
  const orderId = `ord-${uid()}`
  return {
    key: `${orderId}:authorize`,
    orderId,
    userId: `user-${uid()}`,
    tenantId: 'default',
    amount: 59.98,
    currency: 'USD',
    token: 'tok_visa',
    ...overrides,
  }
}

/** Awaits a rejection with this error code, and returns the error. */
export async function rejects(promise: Promise<unknown>, code: string): Promise<MosaicError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof MosaicError, String(error))
    assert.equal(error.code, code, error.message)
    return error
  }
  assert.fail(`expected ${code}`)
}
