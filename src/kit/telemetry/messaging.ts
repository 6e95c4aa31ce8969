// Spans of events, after OpenTelemetry's messaging conventions. A `publish` PRODUCER span is made
// per event where the event is created: in the producing transaction (tx.publish), a child of the
// request or step that caused it. Its context is what the event carries (`traceparent`), fixed
// durably with the event in the outbox; the relay, a background loop moving batches of many
// requests' events, has no context of its own to give them. Each delivery is handled in a `process`
// CONSUMER span whose parent is that producer context and which also links to it, so one checkout
// is one trace, and replays or fan-out are still drawn as links.
import type { Link } from '@opentelemetry/api'
import type { CloudEvent } from '../contract.ts'
import { withSpan, contextFrom, linkFrom, rootContext, SpanKind } from './tracing.ts'

const carrier = (event: CloudEvent) => ({ traceparent: event.traceparent, tracestate: event.tracestate })

export function publishSpan(
  service: string,
  system: string,
  type: string,
  create: () => Promise<CloudEvent>,
): Promise<CloudEvent> {
  return withSpan(
    `${type} publish`,
    {
      kind: SpanKind.PRODUCER,
      service,
      attributes: {
        'messaging.system': system,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': type,
      },
    },
    async (span) => {
      const event = await create()
      span.setAttribute('messaging.message.id', event.id)
      return event
    },
  )
}

export interface Consumer {
  readonly service: string
  readonly system: string
  readonly subscription: string
}

/**
 * Runs a batch of deliveries (`run`, one transaction) in `process` spans: `each` wraps one event's
 * handler. A batch of one is that event's span; a larger batch gets a span of its own, linked to
 * every event, inside the trace they share if they share one (else as a new trace), and each event
 * a span inside it, parented to its producer.
 */
export function processSpans<T>(
  consumer: Consumer,
  events: readonly CloudEvent[],
  run: (each: <R>(event: CloudEvent, fn: () => Promise<R>) => Promise<R>) => Promise<T>,
): Promise<T> {
  const attributes = {
    'messaging.system': consumer.system,
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.consumer.group.name': consumer.subscription,
  }
  const eventSpan = <R>(event: CloudEvent, fn: () => Promise<R>): Promise<R> =>
    withSpan(
      `${event.type} process`,
      {
        kind: SpanKind.CONSUMER,
        service: consumer.service,
        parent: contextFrom(carrier(event)),
        links: linkFrom(carrier(event)),
        attributes: { ...attributes, 'messaging.destination.name': event.type, 'messaging.message.id': event.id },
      },
      fn,
    )
  if (events.length === 1) return eventSpan(events[0]!, () => run((_event, fn) => fn()))
  const links: Link[] = events.flatMap((e) => linkFrom(carrier(e)))
  const traces = new Set(links.map((l) => l.context.traceId))
  return withSpan(
    `${consumer.subscription} process`,
    {
      kind: SpanKind.CONSUMER,
      service: consumer.service,
      parent: traces.size === 1 && links.length === events.length ? contextFrom(carrier(events[0]!)) : rootContext(),
      links,
      attributes: { ...attributes, 'messaging.batch.message_count': events.length },
    },
    () => run(eventSpan),
  )
}
