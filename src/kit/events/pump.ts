// A loop that does work in cycles: runs `cycle` again at once while it finds work, otherwise sleeps
// until woken (`notify`, after a commit that made work) or `pollMs` passes (work that nobody
// announced: a retry coming due, rows left by a crash, another process's commits). A failing cycle
// is logged and retried after the pause, so one bad moment of the database or broker stops nothing.
import type { Logger } from 'pino'

export interface Pump {
  notify(): void
  start(): void
  /** Stops after the cycle in flight. */
  stop(): Promise<void>
  readonly running: boolean
}

export function createPump(name: string, cycle: () => Promise<number>, options: { pollMs: number, log: Logger }): Pump {
  let running = false
  let notified = false
  let wake: (() => void) | undefined
  let loop: Promise<void> | undefined

  function idle(): Promise<void> {
    if (notified) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, options.pollMs)
      wake = () => { clearTimeout(timer); resolve() }
    })
  }

  async function run(): Promise<void> {
    while (running) {
      notified = false
      let worked = 0
      try {
        worked = await cycle()
      } catch (error) {
        if (running) options.log.error({ err: error }, `${name} cycle failed`)
      }
      if (worked === 0 && running) await idle()
      wake = undefined
    }
  }

  return {
    get running() { return running },
    notify() {
      notified = true
      wake?.()
    },
    start() {
      if (running) return
      running = true
      loop = run()
    },
    async stop() {
      running = false
      wake?.()
      await loop
    },
  }
}
