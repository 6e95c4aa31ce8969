// Handing a batch of deliveries to one subscription, the same for every bus: the whole batch in one
// transaction (one commit for many events is what makes a busy consumer fast); if it fails, each
// event alone, so that one bad event is retried or dead-lettered without holding up the others.
import type { Logger } from 'pino'
import type { CloudEvent } from '../contract.ts'
import { backoffMs } from '../backoff.ts'
import { eventsHandled, processDuration } from '../telemetry/metrics.ts'
import type { BusSubscription, RetryPolicy } from './bus.ts'

export interface Delivery {
  readonly event: CloudEvent
  /** Attempts that failed before this one. */
  readonly attempts: number
}

/** What the bus does with each delivery once its fate is known. */
export interface Settle<D extends Delivery> {
  /** Handled (or a duplicate): never deliver again. */
  done(deliveries: readonly D[]): Promise<void>
  /** Failed: deliver again after `delayMs`. */
  retry(delivery: D, attempts: number, delayMs: number, error: string): Promise<void>
  /** Failed for the last time and recorded in the consumer's dead letters: never deliver again. */
  dead(delivery: D): Promise<void>
}

const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)

export async function dispatch<D extends Delivery>(
  subscription: BusSubscription,
  deliveries: readonly D[],
  retry: RetryPolicy,
  log: Logger,
  settle: Settle<D>,
  system = 'mosaic',
): Promise<void> {
  const labels = { service: subscription.consumer, subscription: subscription.id }
  /** The subscription's handler, timed (a batch is one transaction: its duration is the handler's). */
  const handle = async (events: readonly CloudEvent[]): Promise<number> => {
    const started = performance.now()
    let outcome = 'failed'
    try {
      const effects = await subscription.handle(events)
      outcome = 'ok'
      return effects
    } finally {
      processDuration.observe({ ...labels, messaging_system: system, outcome }, (performance.now() - started) / 1000)
    }
  }
  const handled = (batch: readonly D[], effects: number): void => {
    if (effects > 0) eventsHandled.inc({ ...labels, outcome: 'ok', messaging_system: system }, effects)
    if (batch.length > effects)
      eventsHandled.inc({ ...labels, outcome: 'duplicate', messaging_system: system }, batch.length - effects)
  }
  if (deliveries.length > 1) {
    try {
      handled(deliveries, await handle(deliveries.map((d) => d.event)))
      return await settle.done(deliveries)
    } catch {
      // One of them failed and nothing was committed: find which, one at a time.
    }
  }
  const done: D[] = []
  for (const d of deliveries) {
    try {
      handled([d], await handle([d.event]))
      done.push(d)
    } catch (error) {
      const attempts = d.attempts + 1
      const message = describe(error)
      if (attempts >= retry.maxAttempts) {
        await subscription.deadLetter(d.event, attempts, message)
        await settle.dead(d)
        eventsHandled.inc({ ...labels, outcome: 'dead', messaging_system: system })
        log.error({ subscription: subscription.id, event: d.event.id, attempts, err: error }, 'event dead-lettered')
      } else {
        const delay = backoffMs(attempts, retry)
        await settle.retry(d, attempts, delay, message)
        eventsHandled.inc({ ...labels, outcome: 'failed', messaging_system: system })
        log.warn(
          { subscription: subscription.id, event: d.event.id, attempts, retryInMs: Math.round(delay), err: error },
          'event handler failed; will retry',
        )
      }
    }
  }
  await settle.done(done)
}
