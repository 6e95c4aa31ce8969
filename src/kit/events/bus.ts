import type { CloudEvent } from '../contract.ts'
import type { Sql } from '../db/database.ts'
import type { Backoff } from '../backoff.ts'

/** One edge of the system's event graph: `consumer` subscribes (as `id`) to `source`'s events of `type`. */
export interface Route {
  /** `<consumer service>/<subscription name>`: unique in the system. */
  readonly id: string
  readonly consumer: string
  readonly source: string
  readonly type: string
}

/** A route whose consumer runs in this process. */
export interface BusSubscription extends Route {
  /**
   * Handles deliveries in order, in one transaction with their inbox records: all take effect, or
   * (it throws) none does. Events already in the inbox are skipped. Returns how many took effect.
   */
  readonly handle: (events: readonly CloudEvent[]) => Promise<number>
  /** Records an event that failed every attempt in the consumer's own dead letters. */
  readonly deadLetter: (event: CloudEvent, attempts: number, error: string) => Promise<void>
}

export interface RetryPolicy extends Backoff {
  /** Attempts before a delivery is dead-lettered. */
  readonly maxAttempts: number
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 60_000 }

/** What readiness and /metrics say about the bus. */
export interface BusStatus {
  readonly connected: boolean
  /** Events waiting for each local subscription (including those being retried). */
  readonly lag: Readonly<Record<string, number>>
  /** Of those, deliveries that failed at least once and wait for another attempt. */
  readonly retrying: Readonly<Record<string, number>>
  /** Age in seconds of the oldest event waiting for each local subscription (embedded bus only: JetStream does not say). */
  readonly oldestSeconds?: Readonly<Record<string, number>>
}

/**
 * Moves events from producers' outboxes to every subscriber in the system, wherever it runs. The
 * producing service's relay (relay.ts) reads its outbox and hands committed events to `publish`; the
 * bus delivers them to each subscription's `handle`, whose inbox makes the effect happen once.
 * Delivery is at-least-once with either implementation:
 * - embedded (local-bus.ts): a queue table in the one database every service shares;
 * - distributed (nats-bus.ts): NATS JetStream, a stream per producer and a durable consumer per route.
 */
export interface Bus {
  readonly kind: 'embedded' | 'nats'
  /**
   * Takes `producer`'s events durably, in order: resolves once every subscriber will get them (the
   * broker acknowledged them, or they are queued in `tx`). `tx` is the relay's transaction on the
   * producer's database, in which the events leave its outbox.
   */
  publish(producer: string, events: readonly CloudEvent[], tx: Sql): Promise<void>
  /** Sends `events` again to one route only (a replay of its dead letters), within the consumer's `tx`. */
  redeliver(route: Route, events: readonly CloudEvent[], tx: Sql): Promise<void>
  /** Starts delivering a local subscription's events (those published before it existed too). */
  subscribe(subscription: BusSubscription): Promise<void>
  start(): Promise<void>
  /** Stops taking new deliveries and waits for the handlers in flight. */
  stop(): Promise<void>
  status(): Promise<BusStatus>
  readonly running: boolean
}
