// Statements of one transaction sent side by side: on PostgreSQL, postgres.js writes statements
// issued in the same turn of the event loop together, so statements that do not need each
// other's answers cost one round trip instead of one each. (Promise.all would not do: it rejects
// at the first failure, and the transaction could end while the others still run; on PGlite one
// could then run after the rollback, outside the transaction.)

/**
 * Waits for every one of `work` to settle, then fails with the first failure that is not merely
 * a statement refused because an earlier one had aborted the transaction (25P02); returns the results.
 */
export async function sideBySide<T extends readonly unknown[]>(
  work: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(work)
  const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []))
  if (errors.length > 0) throw errors.find((e) => (e as { code?: unknown } | null)?.code !== '25P02') ?? errors[0]
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as never
}
