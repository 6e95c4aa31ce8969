// Which statements cost PostgreSQL its time during a benchmark: pg_stat_statements (the server must
// load it: shared_preload_libraries=pg_stat_statements), the tables' scans and dead rows, the WAL
// and commit counters, and what the database's backends wait on, sampled from pg_stat_activity.
// `bench/checkout.ts` prints it with BENCH_PG_STATEMENTS=1, counted per order over the checkout
// alone (reset just before it, read once the system is idle again).
import postgres from 'postgres'
import type { Cleanup } from './children.ts'

export interface StatementStats {
  /** Zeroes the counters and starts sampling the backends' waits. */
  reset(): Promise<void>
  /** Stops sampling and prints what the counters say, per order of `orders`. */
  print(orders: number, top?: number): Promise<void>
}

type Row = Record<string, unknown>

function table(rows: Row[]): void {
  if (rows.length === 0) return console.log('    (none)')
  const keys = Object.keys(rows[0]!)
  const cells = [keys, ...rows.map((r) => keys.map((k) => String(r[k] ?? '')))]
  const widths = keys.map((_, i) => Math.max(...cells.map((c) => Math.min(c[i]!.length, 110))))
  for (const c of cells) console.log(`    ${c.map((v, i) => v.slice(0, 110).padEnd(widths[i]!)).join('  ')}`)
}

/** The statistics of the database at `url` (a superuser's, to reset them and create the extension). */
export async function statementStats(url: string, cleanup: Cleanup): Promise<StatementStats> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  // The sampler's own queries from another database, so they count in none of this one's figures.
  const elsewhere = new URL(url)
  elsewhere.pathname = '/postgres'
  const sampler = postgres(elsewhere.toString(), { max: 1, onnotice: () => {} })
  const database = new URL(url).pathname.slice(1)
  cleanup.push(
    () => sql.end({ timeout: 5 }),
    () => sampler.end({ timeout: 5 }),
  )
  await sql`create extension if not exists pg_stat_statements`
  const waits = new Map<string, number>()
  let samples = 0
  let sampling: NodeJS.Timeout | undefined
  return {
    async reset() {
      await sql`select pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('wal')`
      sampling = setInterval(() => {
        void sampler<{ wait: string; n: number }[]>`
          select coalesce(wait_event_type || ':' || wait_event, 'CPU') as wait, count(*)::int as n
          from pg_stat_activity where datname = ${database}
            and state in ('active', 'idle in transaction') group by 1`.then(
          (rows) => {
            samples++
            for (const r of rows) waits.set(r.wait, (waits.get(r.wait) ?? 0) + r.n)
          },
          () => {},
        )
      }, 50)
    },
    async print(orders, top = 15) {
      clearInterval(sampling)
      const per = (column: string) => sql.unsafe(`round((${column})::numeric / ${orders}, 3)`)
      console.log(`\n  PostgreSQL statements over ${orders} orders, by total execution time (per order):`)
      table(
        await sql`
          select ${per('calls')} as calls, ${per('total_exec_time')} as exec_ms, ${per('total_plan_time')} as plan_ms,
            ${per('plans')} as plans, ${per('rows')} as rows, ${per('shared_blks_hit + shared_blks_read')} as blks,
            ${per('wal_bytes')} as wal_b, regexp_replace(query, '\\s+', ' ', 'g') as query
          from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
          order by total_exec_time + total_plan_time desc limit ${top}`,
      )
      const [all] = await sql`
        select ${per('sum(calls)')} as calls, ${per('sum(total_exec_time)')} as exec_ms, ${per('sum(total_plan_time)')} as plan_ms,
          ${per('sum(plans)')} as plans
        from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())`
      console.log('  all statements (per order):', JSON.stringify(all))
      console.log('\n  tables (counts per order; dead rows now):')
      table(
        await sql`
          select schemaname || '.' || relname as table, ${per('seq_scan')} as seq_scans, ${per('seq_tup_read')} as seq_rows,
            ${per('idx_scan')} as idx_scans, ${per('n_tup_ins')} as ins, ${per('n_tup_upd')} as upd, ${per('n_tup_hot_upd')} as hot_upd,
            ${per('n_tup_del')} as del, n_live_tup as live, n_dead_tup as dead
          from pg_stat_user_tables where seq_scan + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del > 0
          order by seq_tup_read + coalesce(idx_tup_fetch, 0) + n_tup_ins + n_tup_upd + n_tup_del desc limit ${top}`,
      )
      const [db] = await sql`
        select ${per('xact_commit')} as commits, ${per('xact_rollback')} as rollbacks, ${per('blks_read')} as blks_read,
          ${per('tup_returned')} as tup_returned, ${per('tup_fetched')} as tup_fetched, deadlocks, conflicts
        from pg_stat_database where datname = current_database()`
      const [wal] = await sql`
        select ${per('wal_records')} as records, ${per('wal_fpi')} as fpi, ${per('wal_bytes')} as bytes,
          ${per('wal_write')} as writes, ${per('wal_sync')} as syncs, ${per('wal_sync_time')} as sync_ms
        from pg_stat_wal`
      console.log('  database (per order):', JSON.stringify(db))
      console.log('  WAL (per order, the whole server):', JSON.stringify(wal))
      const waited = [...waits].sort((a, b) => b[1] - a[1])
      console.log(
        `  backends of the database, active or idle in transaction, by wait (mean over ${samples} samples): ${waited
          .map(([w, n]) => `${w} ${(n / Math.max(samples, 1)).toFixed(2)}`)
          .join(', ')}`,
      )
    },
  }
}
