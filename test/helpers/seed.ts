// Reproducible randomness for the crash tests: kill moments drawn from a seeded generator, the
// seed printed with the test's result and settable with TEST_SEED to replay a failing run.
// Hand-written (mulberry32, a few lines): fast-check draws property inputs, not a stream of delays.
import { randomInt } from 'node:crypto'
import type { TestContext } from 'node:test'

/** Uniform in [0, 1), like Math.random, from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The test's random source: seeded from TEST_SEED, or a fresh seed, which is reported either way. */
export function seededRandom(t: TestContext): () => number {
  const given = process.env.TEST_SEED
  const seed = given === undefined || given === '' ? randomInt(2 ** 32 - 1) : Number(given)
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new Error(`TEST_SEED must be an integer from 0 to 2^32-1, got ${given}`)
  // Reported beside the test's result (✔ or ✖), so a failure says how to replay it.
  t.diagnostic(`TEST_SEED=${seed}`)
  return mulberry32(seed)
}
