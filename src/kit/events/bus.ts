import type { CloudEvent } from '../contract.ts'
import type { Backoff } from '../backoff.ts'

/** One consumer of one event type, registered by the service that owns it. */
export interface BusSubscription {
  /** `<consumer service>/<subscription name>`: unique in the system. */
  readonly id: string
  readonly consumer: string
  readonly source: string
  readonly type: string
  /** Handles one delivery: runs the effect and the inbox record in one transaction, or throws. */
  readonly handle: (event: CloudEvent) => Promise<'handled' | 'duplicate'>
}

export interface RetryPolicy extends Backoff {
  /** Attempts before a delivery is dead-lettered. */
  readonly maxAttempts: number
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 60_000 }

/**
 * Moves events from producers' outboxes to subscribers. The embedded bus keeps its queue in the
 * same database; the distributed one (NATS JetStream) in the broker. Either way delivery is
 * at-least-once and the consumer's inbox makes the effect happen once.
 */
export interface Bus {
  /** Relays this service's outbox. */
  addProducer(service: string): void
  subscribe(subscription: BusSubscription): void
  /** Something was just committed to an outbox: relay it now rather than at the next poll. */
  notify(): void
  start(): Promise<void>
  /** Stops taking new work and waits for handlers in flight. */
  stop(): Promise<void>
  /** Sends a consumer's dead letters (all, or the given ids) back for delivery; returns how many. */
  replay(consumer: string, ids?: readonly number[]): Promise<number>
  readonly running: boolean
}
