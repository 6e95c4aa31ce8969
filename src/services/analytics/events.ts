// The append-only event table: every domain event analytics subscribes to, and every tracking
// event a client sends, recorded once by its id, with the aggregates updated in the same transaction.
import { onBatch, type Contract, type CloudEvent, type Sql, type Subscription } from '../../kit/index.ts'
import { aggregate, noAdditions, write } from './aggregates.ts'

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

/**
 * Records events, in one statement however many, and adds those recorded for the first time to the
 * aggregates, a statement per aggregate table for the whole batch; returns how many were. An id seen before (or twice here) changes nothing again.
 */
export async function recordAll(tx: Sql, events: readonly Recorded[]): Promise<number> {
  if (events.length === 0) return 0
  const rows = events.map((e) => ({
    id: e.id,
    source: e.source,
    type: e.type,
    time: e.time,
    subject: e.subject,
    tenant_id: e.tenantId,
    user_id: e.userId,
    visitor_id: e.visitorId,
    data: e.data,
  }))
  const inserted = await tx.query<{ id: string }>(
    `insert into events (id, source, type, time, subject, tenant_id, user_id, visitor_id, data)
    select * from jsonb_to_recordset($1::text::jsonb) as r(id text, source text, type text, time timestamptz,
      subject text, tenant_id text, user_id text, visitor_id text, data jsonb)
    on conflict (id) do nothing returning id`,
    [JSON.stringify(rows)],
  )
  const fresh = new Set(inserted.map((r) => r.id))
  const additions = noAdditions()
  for (const event of events) if (fresh.delete(event.id)) aggregate(additions, event)
  await write(tx, additions)
  return inserted.length
}

/** Records an event and adds it to the aggregates; false (and nothing changed) when its id was seen before. */
export async function record(tx: Sql, event: Recorded): Promise<boolean> {
  return (await recordAll(tx, [event])) > 0
}

/** A subscription to every event each producer's contract declares, all recorded the same way, a batch at a time. */
export function subscribeToAll(producers: readonly Contract[]): Subscription[] {
  return producers.flatMap((producer) =>
    Object.keys(producer.events).map((type) =>
      onBatch(producer, type, async (events, tx) => {
        await recordAll(
          tx,
          events.map((event) => fromCloudEvent(producer.name, event)),
        )
      }),
    ),
  )
}
