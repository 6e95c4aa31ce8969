// Waiting in tests: for a condition to hold (polled), never for a guessed time to pass.
import assert from 'node:assert/strict'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` until it gives a value (anything but undefined, null or false: `true`, a row, a
 * count of 0) and returns that value; fails naming `what` after `timeoutMs`.
 */
export async function eventually<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 5000,
): Promise<Exclude<T, undefined | null | false>> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>
    if (Date.now() > until) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(25)
  }
}
