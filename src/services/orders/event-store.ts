// The event store: streams of events in the `events` table, appended with an expected version.
// The primary key (stream_id, version) is the concurrency check: of two writers that read the
// same version, the second one's insert fails, and it retries on the new state (never a merge).
import { setTimeout } from 'node:timers/promises'
import { MosaicError, backoffMs, type Sql, type ServiceDb, type ServiceTx } from '../../kit/index.ts'
import type { OrdersContract } from './contract.ts'

export interface Stored {
  readonly type: string
  readonly data: unknown
  readonly version: number
  readonly at: string
}

/** How a stream's events fold into a state; the state must survive JSON (snapshots). */
export interface Reducer<S extends { version: number }, E extends Stored = Stored> {
  initial(): S
  replay(state: S, events: readonly E[]): S
}

/** A snapshot every this many events: loading reads it and at most this many events more. */
export const SNAPSHOT_EVERY = 100

interface EventRow {
  type: string
  data: unknown
  version: number
  recorded_at: Date
}

const toStored = (row: EventRow): Stored => ({
  type: row.type,
  data: row.data,
  version: row.version,
  at: row.recorded_at.toISOString(),
})

export async function readEvents(db: Sql, streamId: string, afterVersion = 0): Promise<Stored[]> {
  const rows = await db.query<EventRow>(
    'select type, data, version, recorded_at from events where stream_id = $1 and version > $2 order by version',
    [streamId, afterVersion],
  )
  return rows.map(toStored)
}

/** The stream's state: its latest snapshot plus the events after it. */
export async function load<S extends { version: number }, E extends Stored>(
  db: Sql,
  streamId: string,
  reducer: Reducer<S, E>,
): Promise<S> {
  // One statement, one round trip: the snapshot (if any) beside each event after it, or alone in
  // one row when no event follows it. Snapshots are rare (one per SNAPSHOT_EVERY events), so
  // repeating one on at most that many rows costs less than a second trip to the server.
  const rows = await db.query<{ state: S | null } & { [K in keyof EventRow]: EventRow[K] | null }>(
    `select s.state, e.type, e.data, e.version, e.recorded_at
    from (select 1) one
    left join snapshots s on s.stream_id = $1
    left join events e on e.stream_id = $1 and e.version > coalesce(s.version, 0)
    order by e.version`,
    [streamId],
  )
  const from = rows[0]?.state ?? reducer.initial()
  const events = rows.flatMap((row) => (row.version === null ? [] : [toStored(row as EventRow)]))
  return reducer.replay(from, events as E[])
}

/** Thrown when another writer appended first; `command` retries on a fresh state. */
export class ConcurrencyConflict extends Error {}

const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === '23505'

/**
 * Appends `events` as versions expectedVersion+1... in one statement (one row each); fails with
 * ConcurrencyConflict if any of those versions is taken, and then none of them is appended.
 */
export async function append(
  tx: Sql,
  streamId: string,
  expectedVersion: number,
  events: readonly { type: string; data: unknown }[],
): Promise<Stored[]> {
  try {
    const rows = await tx.query<EventRow>(
      `insert into events (stream_id, version, type, data)
      select $1, $2::int + n, type, data::jsonb from unnest($3::text[], $4::text[]) with ordinality as e(type, data, n)
      returning type, data, version, recorded_at`,
      [streamId, expectedVersion, events.map((e) => e.type), events.map((e) => JSON.stringify(e.data))],
    )
    // RETURNING promises no order.
    return rows.map(toStored).sort((a, b) => a.version - b.version)
  } catch (error) {
    if (isUniqueViolation(error))
      throw new ConcurrencyConflict(`${streamId}: version ${expectedVersion + 1} was appended by another writer`)
    throw error
  }
}

/** Saves the state when the stream crosses a multiple of SNAPSHOT_EVERY. */
export async function snapshotIfDue<S extends { version: number }>(
  tx: Sql,
  streamId: string,
  before: number,
  state: S,
): Promise<void> {
  if (Math.floor(state.version / SNAPSHOT_EVERY) === Math.floor(before / SNAPSHOT_EVERY)) return
  await tx.query(
    `insert into snapshots (stream_id, version, state) values ($1, $2, $3::text::jsonb)
    on conflict (stream_id) do update set version = excluded.version, state = excluded.state, taken_at = now()`,
    [streamId, state.version, JSON.stringify(state)],
  )
}

export interface Decision<S, E extends { type: string; data: unknown }> {
  readonly events: readonly E[]
  /** Runs in the same transaction after the append (even of nothing), with the new state (projections, outbox, saga). */
  readonly then?: (tx: ServiceTx<OrdersContract>, state: S, appended: readonly Stored[]) => Promise<void>
}

const MAX_ATTEMPTS = 20
/** Between attempts after a conflict: writers that all lost the same race spread out instead of racing again at once. */
const CONFLICT_BACKOFF = { baseDelayMs: 2, maxDelayMs: 100 }

/** Thrown inside a command's transaction when a state the caller held turned out to be stale. */
class StaleState extends Error {}

/**
 * Runs a command on a stream: load, decide, append, all in one transaction; on a concurrent
 * append, again from a fresh load. Returns the state after it (unchanged when nothing was decided).
 *
 * `known` is a state of the stream the caller got from its last command (the saga keeps the order
 * it has just appended to): the first attempt decides on it without reading the stream, and the
 * append's version check says whether it was still the latest. If it was not (another writer
 * appended), or deciding on it appends nothing or refuses, the command runs again on a fresh load,
 * so the outcome is the same as without `known`, one round trip cheaper when nobody else wrote.
 */
export async function command<S extends { version: number }, E extends { type: string; data: unknown }>(
  db: ServiceDb<OrdersContract>,
  streamId: string,
  reducer: Reducer<S, E & Stored>,
  decide: (state: S) => Decision<S, E> | readonly E[],
  known?: S,
): Promise<S> {
  for (let attempt = 1; ; attempt++) {
    const held = known
    known = undefined
    try {
      return await db.transaction(async (tx) => {
        const state = held ?? (await load(tx, streamId, reducer))
        let decision: Decision<S, E> | readonly E[]
        try {
          decision = decide(state)
        } catch (error) {
          if (held) throw new StaleState()
          throw error
        }
        const { events, then } = Array.isArray(decision)
          ? { events: decision as readonly E[], then: undefined }
          : (decision as Decision<S, E>)
        // Nothing appended means no version check: the held state may be old, so decide on the latest.
        if (held && events.length === 0) throw new StaleState()
        const appended = events.length > 0 ? await append(tx, streamId, state.version, events) : []
        const next = reducer.replay(state, appended as (E & Stored)[])
        await snapshotIfDue(tx, streamId, state.version, next)
        await then?.(tx, next, appended)
        return next
      })
    } catch (error) {
      // A held state that was stale is no conflict with another writer: load and go again at once.
      if (error instanceof StaleState || (held && error instanceof ConcurrencyConflict)) continue
      if (!(error instanceof ConcurrencyConflict)) throw error
      if (attempt >= MAX_ATTEMPTS)
        throw new MosaicError('conflict', {
          detail: `${streamId}: too many concurrent changes, try again`,
          retryable: true,
        })
      await setTimeout(backoffMs(attempt, CONFLICT_BACKOFF))
    }
  }
}
