// Password hashing (argon2id) behind a bounded pool, and the password policy.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import * as argon2 from '@node-rs/argon2'

export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 128

// OWASP's argon2id baseline. The PHC string records them, so hashes made now still verify if these are raised later.
// algorithm 2 is Algorithm.Argon2id: an ambient const enum cannot be read under isolatedModules.
const ARGON2_OPTIONS: argon2.Options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /** False (never throws) on a malformed hash. */
  verify(hash: string, password: string): Promise<boolean>
  /** Runs a verification of the same cost against a fixed dummy hash and returns false: used for unknown accounts so the response time does not tell whether an email is registered. */
  verifyDummy(password: string): Promise<false>
  /** Hashes running or queued right now (for tests/metrics). */
  readonly pending: number
}

/** The two argon2 calls the hasher makes; replaceable so tests can count how many run at once. */
export interface Argon2Backend {
  hash(password: string, options: argon2.Options): Promise<string>
  verify(hash: string, password: string): Promise<boolean>
}

/**
 * argon2 runs on libuv's thread pool (UV_THREADPOOL_SIZE, default 4), which also serves fs, dns.lookup,
 * zlib and async crypto. If a burst of 50 logins took every pool thread, every other request touching
 * those would queue behind 50 ms hashes. So keep one pool thread free, and one core for the event loop
 * (more hashes than cores only time-slice). The cap also bounds argon2's memory to concurrency × 19 MiB.
 */
function defaultConcurrency(): number {
  const uvThreads = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10)
  return Math.max(1, Math.min(availableParallelism() - 1, (uvThreads > 0 ? uvThreads : 4) - 1))
}

export function createPasswordHasher(options: { concurrency?: number; backend?: Argon2Backend } = {}): PasswordHasher {
  const { concurrency = defaultConcurrency(), backend = argon2 } = options
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`)
  const pool = createPool(concurrency)
  let dummy: Promise<string> | undefined

  const verify = async (hash: string, password: string): Promise<boolean> => {
    try {
      return await pool.run(() => backend.verify(hash, normalisePassword(password)))
    } catch {
      return false
    }
  }

  return {
    hash: (password) => pool.run(() => backend.hash(normalisePassword(password), ARGON2_OPTIONS)),
    verify,
    async verifyDummy(password) {
      if (dummy === undefined) {
        // Making the dummy is one argon2 run of the same cost, so the first call does that instead of a verification.
        const made = pool.run(() => backend.hash('mosaic dummy password', ARGON2_OPTIONS))
        dummy = made
        try {
          await made
        } catch (error) {
          dummy = undefined
          throw error
        }
        return false
      }
      await verify(await dummy, password)
      return false
    },
    get pending() {
      return pool.pending
    },
  }
}

/** Runs at most `concurrency` tasks at once; the rest wait in arrival order. */
function createPool(concurrency: number) {
  let running = 0
  const waiting: Array<() => void> = []
  return {
    get pending() {
      return running + waiting.length
    },
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running < concurrency) running++
      else await new Promise<void>((resolve) => waiting.push(resolve))
      try {
        return await task()
      } finally {
        // Hand the slot straight to the next in line, so a newcomer cannot take it first.
        const next = waiting.shift()
        if (next) next()
        else running--
      }
    },
  }
}

const common = new Set(
  readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean),
)

/**
 * NIST SP 800-63B (5.1.1.2): a password is normalised (NFKC) before it is checked and hashed, so
 * that the same characters typed on another keyboard or system (composed or decomposed, a
 * full-width digit) are the same password.
 */
export const normalisePassword = (password: string): string => password.normalize('NFKC')

/** Why the password is refused, or undefined when it is acceptable. */
export function passwordProblem(raw: string, context: { email?: string } = {}): string | undefined {
  const password = normalisePassword(raw)
  // Control characters (NUL, tab, newline...) cannot be typed in a password field; spaces can, but not only spaces.
  if (/\p{Cc}/u.test(password)) return 'must not contain control characters'
  // Code points, not UTF-16 units: an emoji is one character to the person typing it.
  const length = [...password].length
  if (length < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`
  if (length > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`
  if (password.trim() === '') return 'must not be only spaces'
  const lower = password.toLowerCase()
  const email = context.email?.trim().toLowerCase()
  if (email && (lower === email || lower === localPart(email))) return 'must not be your email'
  if (common.has(lower)) return 'is too common'
  return undefined
}

// The last '@' separates the domain: a quoted local part may itself contain one.
function localPart(email: string): string {
  const at = email.lastIndexOf('@')
  return at < 0 ? email : email.slice(0, at)
}
