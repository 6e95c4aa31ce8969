import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as turn } from 'node:timers/promises'
import { pino } from 'pino'
import { startWorker } from './worker.ts'

/** A logger whose lines the test reads. */
function capturedLog() {
  const lines: { level: number; msg: string; worker?: string }[] = []
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as never)
      },
    },
  )
  return { log, lines }
}

/** A queue of jobs for `claim`, and the jobs run so far. */
function queue<J>() {
  const due: J[] = []
  const ran: J[] = []
  let claims = 0
  const waiting: { n: number; resolve: (job: J) => void }[] = []
  return {
    due,
    ran,
    get claims() {
      return claims
    },
    claim: async (limit: number): Promise<J[]> => {
      claims++
      return due.splice(0, limit)
    },
    /** Resolves with the `n`th job run (1-based) once it has started. */
    run: (n: number): Promise<J> =>
      new Promise((resolve) => {
        if (ran.length >= n) resolve(ran[n - 1]!)
        else waiting.push({ n, resolve })
      }),
    record(job: J) {
      ran.push(job)
      for (const w of waiting.filter((w) => w.n === ran.length)) w.resolve(job)
    },
  }
}

test('a worker looks at once when notified, not at the next poll', async () => {
  const q = queue<string>()
  const { log } = capturedLog()
  const worker = startWorker({ name: 'test', log, pollMs: 60_000, claim: q.claim, run: async (job) => q.record(job) })
  try {
    q.due.push('a')
    const started = performance.now()
    worker.notify()
    assert.equal(await q.run(1), 'a')
    assert.ok(performance.now() - started < 5_000, 'woken, not polled (the poll is a minute)')
  } finally {
    await worker.stop()
  }
})

test('the first cycle runs at start: work left by the last run is found unannounced', async () => {
  const q = queue<string>()
  q.due.push('left from the last run')
  const { log } = capturedLog()
  const worker = startWorker({ name: 'test', log, pollMs: 60_000, claim: q.claim, run: async (job) => q.record(job) })
  try {
    assert.equal(await q.run(1), 'left from the last run')
  } finally {
    await worker.stop()
  }
})

test('with nothing due and nobody notifying, the worker looks again every poll', async () => {
  const { log } = capturedLog()
  let third!: () => void
  const polled = new Promise<void>((resolve) => {
    third = resolve
  })
  let claims = 0
  const worker = startWorker({
    name: 'test',
    log,
    pollMs: 20,
    claim: async () => {
      if (++claims === 3) third()
      return []
    },
    run: async () => assert.fail('nothing was due'),
  })
  try {
    await polled // no job ran and nothing notified: only the poll makes the second and third claims
  } finally {
    await worker.stop()
  }
})

test('stop waits for the jobs in flight and claims nothing more', async () => {
  const q = queue<string>()
  const { log } = capturedLog()
  const order: string[] = []
  let release!: () => void
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  const worker = startWorker({
    name: 'test',
    log,
    pollMs: 60_000,
    concurrency: 2,
    claim: q.claim,
    run: async (job) => {
      q.record(job)
      await held
      order.push(`${job} done`)
    },
  })
  q.due.push('a', 'b')
  worker.notify()
  await q.run(2)
  const claimsAtStop = q.claims
  const stopped = worker.stop().then(() => order.push('stopped'))
  assert.equal(worker.running, false)
  q.due.push('c')
  worker.notify()
  // Turns of the event loop for a stop that would not wait to resolve; it must not, with jobs held.
  for (let i = 0; i < 20; i++) await turn()
  assert.deepEqual(order, [])
  release()
  await stopped
  assert.deepEqual(order, ['a done', 'b done', 'stopped'])
  assert.equal(q.claims, claimsAtStop, 'nothing claimed after stop')
  assert.deepEqual(q.due, ['c'])
})

test('a failing cycle is logged and the worker carries on; so is a failing job', async () => {
  const { log, lines } = capturedLog()
  const q = queue<string>()
  let failClaim = true
  const worker = startWorker({
    name: 'flaky',
    log,
    pollMs: 20,
    claim: async (limit) => {
      if (failClaim) {
        failClaim = false
        throw new Error('database unreachable')
      }
      return q.claim(limit)
    },
    run: async (job) => {
      q.record(job)
      if (job === 'bad') throw new Error('cannot render')
    },
  })
  try {
    q.due.push('bad', 'good')
    assert.equal(await q.run(1), 'bad', 'claimed at the next poll after the failed cycle')
    assert.equal(await q.run(2), 'good', 'the failed job did not stop the worker')
    const errors = lines.filter((l) => l.level === 50)
    assert.deepEqual(
      errors.map((l) => [l.worker, l.msg]),
      [
        ['flaky', 'flaky: cycle failed'],
        ['flaky', 'flaky: a job failed'],
      ],
    )
  } finally {
    await worker.stop()
  }
})

test('concurrency bounds the jobs at once, and a full claim looks again without sleeping', async () => {
  const { log } = capturedLog()
  const q = queue<number>()
  let running = 0
  let most = 0
  let finish!: () => void
  const allDone = new Promise<void>((resolve) => {
    finish = resolve
  })
  q.due.push(...Array.from({ length: 10 }, (_, i) => i))
  const worker = startWorker({
    name: 'test',
    log,
    pollMs: 60_000,
    concurrency: 3,
    claim: q.claim,
    run: async (job) => {
      most = Math.max(most, ++running)
      await turn()
      running--
      q.record(job)
      if (q.ran.length === 10) finish()
    },
  })
  try {
    await allDone // with a minute's poll: every batch after the first came from looking again at once
    assert.equal(most, 3)
    assert.deepEqual(
      [...q.ran].sort((a, b) => a - b),
      Array.from({ length: 10 }, (_, i) => i),
    )
  } finally {
    await worker.stop()
  }
})

test('a cycle worker (a bus relaying batches) runs again at once while it says more is due', async () => {
  const { log } = capturedLog()
  let batches = 3
  let done!: () => void
  const drained = new Promise<void>((resolve) => {
    done = resolve
  })
  const worker = startWorker({
    name: 'relay',
    log,
    pollMs: 60_000,
    cycle: async () => {
      if (batches === 0) {
        done()
        return false
      }
      batches--
      return true
    },
  })
  try {
    await drained
    assert.equal(batches, 0)
  } finally {
    await worker.stop()
  }
})
