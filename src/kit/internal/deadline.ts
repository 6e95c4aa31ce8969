import { MosaicError } from '../errors.ts'

/**
 * Work in flight that must settle by its deadline, all watched by one timer set for the earliest
 * deadline rather than a timer per call: Node's setTimeout reads libuv's clock and links the
 * timer into its lists on every call, which with clearTimeout was some 3 % of a cached read. With
 * deadlines `now + the same timeout`, a later call's deadline is never the earliest, so the timer
 * is set again only when it fires (it then drops what expired and looks for the next earliest).
 * Hand-written for that reason: no timer library schedules many deadlines on one Node timer.
 */
interface Watch {
  readonly deadline: number
  readonly remaining: number
  readonly reject: (error: Error) => void
}

const pending = new Set<Watch>()
let timer: NodeJS.Timeout | undefined
let armedFor = Infinity

function arm(at: number): void {
  clearTimeout(timer)
  armedFor = at
  timer = setTimeout(expire, Math.max(0, at - Date.now()))
  // Not what keeps a process alive: the work being waited on does (a request's socket, a server).
  timer.unref()
}

function expire(): void {
  timer = undefined
  armedFor = Infinity
  const now = Date.now()
  let next = Infinity
  for (const watch of pending) {
    if (watch.deadline <= now) {
      pending.delete(watch)
      watch.reject(new MosaicError('deadline_exceeded', { detail: `no answer within ${watch.remaining} ms` }))
    } else if (watch.deadline < next) next = watch.deadline
  }
  if (next < Infinity) arm(next)
}

/** Settles with `work`, or rejects with deadline_exceeded when `deadline` (epoch ms) passes first. */
export function withinDeadline<T>(deadline: number, work: () => Promise<T>): Promise<T> {
  const remaining = deadline - Date.now()
  if (remaining <= 0) return Promise.reject(new MosaicError('deadline_exceeded'))
  return new Promise<T>((resolve, reject) => {
    const watch: Watch = { deadline, remaining, reject }
    pending.add(watch)
    if (deadline < armedFor) arm(deadline)
    const settle = (value: T): void => {
      pending.delete(watch)
      resolve(value)
    }
    const fail = (error: unknown): void => {
      pending.delete(watch)
      reject(error)
    }
    try {
      // Promise.resolve: a handler typed async may still return a plain value (it returns a promise as it is).
      Promise.resolve(work()).then(settle, fail)
    } catch (error) {
      fail(error) // a handler that throws before its first await
    }
  })
}
