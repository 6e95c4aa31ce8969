// Shared by the analytics suites: a gateway node with identity, catalog and analytics on an
// in-memory database, and a way to put other services' events on the bus as their producers
// would (orders and payments run elsewhere; their contracts are all analytics knows of them).
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import analytics from '../../src/services/analytics/service.ts'
import type { CloudEvent } from '../../src/kit/contract.ts'
import { testEnv } from '../auth.ts'
import type { TestNode } from '../identity/helpers.ts'
import { drained } from '../helpers/drained.ts'

export async function startAnalyticsNode(env: NodeJS.ProcessEnv = {}): Promise<TestNode> {
  const node = await startNode({
    role: 'gateway',
    services: [identity, catalog, analytics],
    port: 0,
    env: testEnv({ EVENT_POLL_MS: '20', ...env }),
  })
  return { node, url: node.url, stop: () => node.stop() }
}

/** A CloudEvent as its producer would have written it, with the id and time given (or fresh ones). */
export function envelope(
  source: string,
  type: string,
  data: unknown,
  fields: { id?: string; time?: string; subject?: string } = {},
): CloudEvent {
  return {
    specversion: '1.0',
    id: fields.id ?? randomUUID(),
    source: `/mosaic/${source}`,
    type,
    time: fields.time ?? new Date().toISOString(),
    datacontenttype: 'application/json',
    ...(fields.subject ? { subject: fields.subject } : {}),
    data,
  }
}

/**
 * Puts events on the bus for analytics' subscriptions, in the order given (repeat one for a
 * redelivery), exactly as the relay does, and waits until every one has been handled.
 */
export async function deliver(node: TestNode, events: readonly CloudEvent[]): Promise<void> {
  const admin = node.node.engine.admin
  await admin.transaction(async (tx) => {
    for (const event of events) {
      const source = event.source.split('/').pop()!
      await node.node.bus.redeliver(
        { id: `analytics/${source}.${event.type}`, consumer: 'analytics', source, type: event.type },
        [event],
        tx,
      )
    }
  })
  await drained(node.node, [], 20_000)
  const dead = await admin.query('select error from analytics.mosaic_dead_letters')
  assert.deepEqual(dead, [], 'no event was dead-lettered')
}

/** Statements against the analytics service's own schema. */
export const analyticsDb = (node: TestNode) => node.node.engine.forSchema('analytics')
