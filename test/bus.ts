// Test access to a node's event bus: a subscriber of the test's own, and redelivery of an event to
// one subscription (what a broker does after a lost acknowledgement), waiting until it is handled.
import type { CloudEvent } from '../src/kit/contract.ts'
import type { Route } from '../src/kit/events/bus.ts'
import type { MosaicNode } from '../src/runtime/node.ts'

/** Subscribes `onEvent` to `source`'s `type` events as `id` (a subscription of `consumer`). */
export function spy(node: MosaicNode, route: Route, onEvent: (event: CloudEvent) => void): Promise<void> {
  return node.bus.subscribe({
    ...route,
    handle: async (events) => { events.forEach(onEvent); return events.length },
    deadLetter: async (event) => { throw new Error(`spy ${route.id} never fails, yet ${event.id} was dead-lettered`) },
  })
}

/** Resolves once no delivery is waiting for any subscription of `node`. */
export async function drained(node: MosaicNode, timeoutMs = 10_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; ;) {
    const { lag } = await node.bus.status()
    if (Object.values(lag).every((n) => n === 0)) return
    if (Date.now() > until) throw new Error(`the bus did not drain within ${timeoutMs} ms: ${JSON.stringify(lag)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Hands `events` again to subscription `route` alone, and waits until the bus has dealt with them. */
export async function redeliver(node: MosaicNode, route: Route, events: readonly CloudEvent[]): Promise<void> {
  await node.engineOf(route.consumer).admin.transaction((tx) => node.bus.redeliver(route, events, tx))
  await drained(node)
}
