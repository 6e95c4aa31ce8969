// Test access to a node's event bus: a subscriber of the test's own, and redelivery of an event to
// one subscription (what a broker does after a lost acknowledgement), waiting until it is handled.
import type { CloudEvent } from '../../src/kit/contract.ts'
import type { Route } from '../../src/kit/events/bus.ts'
import type { MosaicNode } from '../../src/runtime/node.ts'
import { drained } from './drained.ts'

/** Subscribes `onEvent` to the route's events, as a subscription of its `consumer`. */
export function spy(node: MosaicNode, route: Route, onEvent: (event: CloudEvent) => void): Promise<void> {
  return node.bus.subscribe({
    ...route,
    handle: async (events) => {
      events.forEach(onEvent)
      return events.length
    },
    deadLetter: async (event) => {
      throw new Error(`spy ${route.id} never fails, yet ${event.id} was dead-lettered`)
    },
  })
}

/** Hands `events` again to subscription `route` alone, and waits until the node is at rest. */
export async function redeliver(node: MosaicNode, route: Route, events: readonly CloudEvent[]): Promise<void> {
  await node.engineOf(route.consumer).admin.transaction((tx) => node.bus.redeliver(route, events, tx))
  await drained(node)
}
