import { MosaicError } from '../errors.ts'

/** Settles with `work`, or rejects with deadline_exceeded when `deadline` (epoch ms) passes first. */
export async function withinDeadline<T>(deadline: number, work: () => Promise<T>): Promise<T> {
  const remaining = deadline - Date.now()
  if (remaining <= 0) throw new MosaicError('deadline_exceeded')
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new MosaicError('deadline_exceeded', { detail: `no answer within ${remaining} ms` })),
      remaining,
    )
  })
  try {
    return await Promise.race([work(), expired])
  } finally {
    clearTimeout(timer)
  }
}

/** An AbortSignal for the deadline, made only if someone asks for it (a timer per request is not free). */
export function lazySignal(deadline: number): () => AbortSignal {
  let signal: AbortSignal | undefined
  return () => (signal ??= AbortSignal.timeout(Math.max(0, deadline - Date.now())))
}
