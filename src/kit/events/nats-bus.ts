// The distributed bus on NATS JetStream. Each producing service has a stream (`MOSAIC_<SERVICE>`,
// subjects `mosaic.<service>.<event type>`; `mosaic` is the namespace, NATS_NAMESPACE), created or updated at start by whoever needs it first;
// each route of the event graph has one durable pull consumer, shared by the consumer's replicas, so
// an event is handled by one replica of each subscribing service. Publishing sets `Nats-Msg-Id` to
// the CloudEvent id, so a relay that sends an event again (it crashed before deleting the outbox
// row) is deduplicated by the broker within its window, and by the consumer's inbox after it.
// Deliveries are acknowledged after the consumer's transaction commits; failures are redelivered
// with backoff (`nak` with a delay) and dead-lettered into the consumer's own database after the
// last attempt. The client reconnects by itself and the durable consumers resume where they were.
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node'
import {
  jetstream,
  jetstreamManager,
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  JetStreamApiError,
  JetStreamApiCodes,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type ConsumerMessages,
} from '@nats-io/jetstream'
import type { CloudEvent } from '../contract.ts'
import { envPrefix } from '../config.ts'
import type { Bus, BusSubscription, Route, RetryPolicy } from './bus.ts'
import { defaultRetryPolicy } from './bus.ts'
import { dispatch, type Delivery } from './dispatch.ts'

export interface NatsBusOptions {
  readonly url: string
  /** Prefix of streams and subjects, so that several deployments (or test runs) can share a server. */
  readonly namespace?: string
  readonly log: Logger
  /** Names this process's connection on the server (monitoring). */
  readonly name: string
  readonly retry?: RetryPolicy
  /** How long a stream keeps events, so that a consumer that starts later still gets them. */
  readonly maxAgeSeconds?: number
  /** Within this window the broker drops a second publication of the same event id. */
  readonly duplicateWindowSeconds?: number
  /** Most events handed to a subscription in one transaction. */
  readonly batchSize?: number
  /** Time a consumer has to acknowledge a delivery before the broker gives it to another replica. */
  readonly ackWaitSeconds?: number
}

/** A redelivery meant for one route only (a replay of its dead letters): other consumers skip it. */
const ROUTE_HEADER = 'Mosaic-Route'

export const streamOf = (namespace: string, service: string): string => `${envPrefix(namespace)}_${envPrefix(service)}`
export const subjectOf = (namespace: string, service: string, type: string): string => `${namespace}.${service}.${type}`
/** Durable names may not contain `.`, `/`, `*`, `>` or spaces. */
export const durableOf = (route: Route): string => route.id.replace(/[^A-Za-z0-9_-]/g, '_')

interface Message extends Delivery {
  readonly msg: JsMsg
}

const isApiError = (error: unknown, code: number): boolean => error instanceof JetStreamApiError && error.code === code

export function createNatsBus(options: NatsBusOptions): Bus {
  const {
    log,
    namespace = 'mosaic',
    retry = defaultRetryPolicy,
    maxAgeSeconds = 7 * 86_400,
    duplicateWindowSeconds = 120,
    batchSize = 200,
    ackWaitSeconds = 30,
  } = options
  let nc: NatsConnection | undefined
  let js: JetStreamClient
  let jsm: JetStreamManager
  let connected = false
  let running = false
  const streams = new Map<string, Promise<void>>()
  const consumers = new Map<
    string,
    { subscription: BusSubscription; messages: ConsumerMessages; done: Promise<void> }
  >()

  function ensureStream(service: string): Promise<void> {
    let ready = streams.get(service)
    if (!ready) {
      const config = {
        name: streamOf(namespace, service),
        subjects: [subjectOf(namespace, service, '>')],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: nanos(maxAgeSeconds * 1000),
        duplicate_window: nanos(duplicateWindowSeconds * 1000),
      }
      ready = (async () => {
        try {
          await jsm.streams.info(config.name)
          await jsm.streams.update(config.name, config)
        } catch (error) {
          if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error
          await jsm.streams.add(config)
        }
      })()
      ready.catch(() => streams.delete(service)) // try again next time
      streams.set(service, ready)
    }
    return ready
  }

  async function ensureConsumer(route: Route): Promise<void> {
    const stream = streamOf(namespace, route.source)
    const durable = durableOf(route)
    const config = {
      ack_wait: nanos(ackWaitSeconds * 1000),
      max_ack_pending: 4 * batchSize,
      filter_subject: subjectOf(namespace, route.source, route.type),
    }
    try {
      await jsm.consumers.info(stream, durable)
      await jsm.consumers.update(stream, durable, config)
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error
      // Everything the stream still holds: a subscriber that starts after its producer misses nothing.
      await jsm.consumers.add(stream, {
        ...config,
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_deliver: -1,
      })
    }
  }

  /** Handles what has arrived, a batch at a time, in arrival order. */
  async function work(subscription: BusSubscription, messages: ConsumerMessages): Promise<void> {
    const queue: JsMsg[] = []
    let batch: Message[] = []
    let wake: (() => void) | undefined
    let ended = false
    // A message waits behind a slow batch, or in one, longer than ack_wait at times. Telling the
    // broker it is in hand keeps it from going to another replica meanwhile: the inbox would absorb
    // the second delivery, but the work would be done twice and the lag would read wrong.
    const inHand = setInterval(
      () => {
        for (const msg of queue) msg.working()
        for (const m of batch) m.msg.working()
      },
      (ackWaitSeconds * 1000) / 3,
    )
    inHand.unref()
    void (async () => {
      try {
        for await (const msg of messages) {
          queue.push(msg)
          wake?.()
        }
      } catch (error) {
        log.error({ err: error, subscription: subscription.id }, 'event consumer stopped')
      } finally {
        ended = true
        wake?.()
      }
    })()
    try {
      await handleQueue()
    } finally {
      clearInterval(inHand)
    }

    async function handleQueue(): Promise<void> {
      for (;;) {
        if (queue.length === 0) {
          if (ended) return
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
          continue
        }
        batch = []
        for (const msg of queue.splice(0, batchSize)) {
          const only = msg.headers?.get(ROUTE_HEADER)
          if (only && only !== subscription.id) {
            msg.ack() // a replay meant for another subscriber of this event type
            continue
          }
          batch.push({ msg, event: msg.json<CloudEvent>(), attempts: msg.info.deliveryCount - 1 })
        }
        if (!running) {
          for (const m of batch) m.msg.nak() // stopping: let another replica have them now
          continue
        }
        await dispatch(
          subscription,
          batch,
          retry,
          log,
          {
            done: async (handled) => {
              for (const m of handled) m.msg.ack()
            },
            retry: async (m, _attempts, delayMs) => {
              m.msg.nak(Math.round(delayMs))
            },
            dead: async (m) => {
              m.msg.term('dead-lettered')
            },
          },
          'nats',
        ).catch((error: unknown) => {
          // Settling failed (the consumer's database is down): the broker redelivers after ack_wait.
          log.error({ err: error, subscription: subscription.id }, 'event delivery failed')
        })
        batch = []
      }
    }
  }

  async function publishAll(
    subject: (event: CloudEvent) => string,
    events: readonly CloudEvent[],
    route?: Route,
  ): Promise<void> {
    // Sent back to back and acknowledged together: one round trip's wait for the whole batch, in order.
    await Promise.all(
      events.map((event) => {
        const h = headers()
        if (route) h.set(ROUTE_HEADER, route.id)
        return js.publish(subject(event), JSON.stringify(event), { msgID: route ? randomUUID() : event.id, headers: h })
      }),
    )
  }

  return {
    kind: 'nats',
    get running() {
      return running
    },
    async start() {
      nc = await connect({ servers: options.url, name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 500 })
      connected = true
      void (async () => {
        for await (const s of nc!.status()) {
          if (s.type === 'disconnect') {
            connected = false
            log.warn({ server: options.url }, 'NATS connection lost; reconnecting')
          } else if (s.type === 'reconnect') {
            connected = true
            log.info({ server: options.url }, 'NATS connection restored')
          }
        }
      })()
      js = jetstream(nc)
      jsm = await jetstreamManager(nc)
      running = true
    },
    async publish(producer, events) {
      if (events.length === 0) return
      await ensureStream(producer)
      await publishAll((e) => subjectOf(namespace, producer, e.type), events)
    },
    async redeliver(route, events) {
      await ensureStream(route.source)
      await publishAll((e) => subjectOf(namespace, route.source, e.type), events, route)
    },
    async subscribe(subscription) {
      if (consumers.has(subscription.id)) throw new Error(`subscription ${subscription.id} registered twice`)
      await ensureStream(subscription.source)
      await ensureConsumer(subscription)
      const consumer = await js.consumers.get(streamOf(namespace, subscription.source), durableOf(subscription))
      const messages = await consumer.consume({ max_messages: 2 * batchSize })
      consumers.set(subscription.id, { subscription, messages, done: work(subscription, messages) })
    },
    async stop() {
      if (!running) return
      running = false
      for (const { messages } of consumers.values()) messages.stop()
      await Promise.all([...consumers.values()].map((c) => c.done))
      await nc?.drain().catch(() => {})
      connected = false
    },
    async status() {
      const lag: Record<string, number> = {}
      const retrying: Record<string, number> = {}
      await Promise.all(
        [...consumers.values()].map(async ({ subscription }) => {
          const info = await jsm.consumers.info(streamOf(namespace, subscription.source), durableOf(subscription))
          lag[subscription.id] = info.num_pending + info.num_ack_pending
          retrying[subscription.id] = info.num_redelivered
        }),
      )
      return { connected, lag, retrying }
    },
  }
}
