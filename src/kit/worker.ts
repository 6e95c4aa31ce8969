// A job loop: the one shape of every background worker here (the checkout saga runner, the mail
// sender, the thumbnail maker; the event bus's delivery and relay loops fit it too). It works
// through what is due, then sleeps until woken by `notify()` or for `pollMs`, whichever comes
// first; the poll is what picks up retries falling due, leases that ran out (a replica died) and
// work left by the last run. A failing cycle is logged and the loop carries on at the next poll.
// Hand-written: the job queues of npm keep their own tables or Redis; ours are the services' rows,
// claimed with a lease in SQL, and what is left to share is this loop.
import type { Logger } from 'pino'

interface Common {
  /** Named in the logs. */
  readonly name: string
  readonly log: Logger
  /** How long to sleep when nothing is due and nobody calls `notify()`. */
  readonly pollMs: number
}

/** A loop that does its own work in each cycle (a bus relaying and delivering a batch). */
export interface CycleWorkerOptions extends Common {
  /**
   * Does what is due; resolves true if more may be due at once (a full batch), to look again without
   * sleeping. `nudged`: this cycle runs because work was announced (`notify()`, or a full batch),
   * not because the poll came round, so a cheap look for whether anything is due may be skipped.
   */
  readonly cycle: (nudged: boolean) => Promise<boolean>
}

/** A loop that claims jobs (with a lease, in SQL) and runs up to `concurrency` of them at once. */
export interface JobWorkerOptions<J> extends Common {
  /** Takes up to `limit` due jobs, leasing them so no replica takes them too. */
  readonly claim: (limit: number) => Promise<readonly J[]>
  /** Does one job. A rejection is logged; the job's lease is what brings it back. */
  readonly run: (job: J) => Promise<void>
  /** Jobs running at once; 1 unless given. */
  readonly concurrency?: number
}

export type WorkerOptions<J> = CycleWorkerOptions | JobWorkerOptions<J>

export interface Worker {
  /** Something is due now: look at once rather than at the next poll (also mid-cycle: it looks again after). */
  notify(): void
  /** Claims nothing more, and resolves once the cycle and the jobs in flight are done. */
  stop(): Promise<void>
  readonly running: boolean
}

/** Starts the loop at once: its first cycle finds what the last run of the process left. */
export function startWorker<J>(options: WorkerOptions<J>): Worker {
  const { name, log, pollMs } = options
  let running = true
  let notified = false
  let wake: (() => void) | undefined
  const inFlight = new Set<Promise<void>>()

  const notify = (): void => {
    notified = true
    wake?.()
  }

  const cycle =
    'cycle' in options
      ? options.cycle
      : async (): Promise<boolean> => {
          const free = (options.concurrency ?? 1) - inFlight.size
          if (free <= 0) return false // a job ending wakes the loop
          const jobs = await options.claim(free)
          for (const job of jobs) {
            const done: Promise<void> = options
              .run(job)
              .catch((error: unknown) => log.error({ err: error, worker: name }, `${name}: a job failed`))
              .finally(() => {
                inFlight.delete(done)
                notify()
              })
            inFlight.add(done)
          }
          return jobs.length === free
        }

  // Unref'd: the server keeps the process alive, not this timer (a node that fails to start must be able to exit).
  /** Resolves true when woken by `notify()` (or `stop()`), false when the poll came round. */
  const sleep = (): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), pollMs).unref()
      wake = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })

  const loop = (async () => {
    let nudged = false
    while (running) {
      notified = false
      let more = false
      try {
        more = await cycle(nudged)
      } catch (error) {
        // A database closed under a stopping worker is no news.
        if (running) log.error({ err: error, worker: name }, `${name}: cycle failed`)
      }
      nudged = more || notified
      if (!running || nudged) continue
      nudged = await sleep()
      wake = undefined
    }
  })()

  return {
    notify,
    get running() {
      return running
    },
    async stop() {
      running = false
      wake?.()
      await loop
      await Promise.all(inFlight)
    },
  }
}
