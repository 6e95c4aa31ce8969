// The append-only event table: every domain event analytics subscribes to, and every tracking
// event a client sends, recorded once by its id, with the aggregates updated in the same transaction.
import { on, type Contract, type CloudEvent, type Sql, type Subscription } from '../../kit/index.ts'
import { aggregate } from './aggregates.ts'

/** One row of `events`: a CloudEvent (or a tracking event) with who and which tenant lifted out of its data. */
export interface Recorded {
  readonly id: string
  /** The producing service's name (`orders`), or `client` for tracking events. */
  readonly source: string
  readonly type: string
  /** ISO 8601: when it happened, by its producer's clock. */
  readonly time: string
  readonly subject: string | null
  readonly tenantId: string | null
  readonly userId: string | null
  readonly visitorId: string | null
  readonly data: unknown
}

/** Personal data analytics has no use for and so does not keep (the identity service has it). */
const dropped: Readonly<Record<string, readonly string[]>> = {
  'user.registered': ['email', 'name'],
}

export function fromCloudEvent(producer: string, event: CloudEvent): Recorded {
  const data = { ...(event.data as Record<string, unknown>) }
  for (const field of dropped[event.type] ?? []) delete data[field]
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : null)
  return {
    id: event.id,
    source: producer,
    type: event.type,
    time: event.time,
    subject: event.subject ?? null,
    tenantId: text(data.tenantId),
    userId: text(data.userId),
    visitorId: null,
    data,
  }
}

/** Records an event and adds it to the aggregates; false (and nothing changed) when its id was seen before. */
export async function record(tx: Sql, event: Recorded): Promise<boolean> {
  const fresh = await tx.query(
    `insert into events (id, source, type, time, subject, tenant_id, user_id, visitor_id, data)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb) on conflict (id) do nothing returning id`,
    [
      event.id,
      event.source,
      event.type,
      event.time,
      event.subject,
      event.tenantId,
      event.userId,
      event.visitorId,
      JSON.stringify(event.data),
    ],
  )
  if (fresh.length === 0) return false
  await aggregate(tx, event)
  return true
}

/** A subscription to every event each producer's contract declares, all recorded the same way. */
export function subscribeToAll(producers: readonly Contract[]): Subscription[] {
  return producers.flatMap((producer) =>
    Object.keys(producer.events).map((type) =>
      on(producer, type, async (event, tx) => {
        await record(tx, fromCloudEvent(producer.name, event))
      }),
    ),
  )
}
