import { test } from 'node:test'
import assert from 'node:assert/strict'
import { withinDeadline } from './deadline.ts'
import { MosaicError } from '../errors.ts'

const never = (): Promise<never> => new Promise(() => {})
const expired = (error: unknown): boolean => error instanceof MosaicError && error.code === 'deadline_exceeded'

test('work that settles in time settles the call, with its value or its error', async () => {
  assert.equal(await withinDeadline(Date.now() + 1000, async () => 'done'), 'done')
  await assert.rejects(
    withinDeadline(Date.now() + 1000, async () => {
      throw new Error('boom')
    }),
    /boom/,
  )
  // A handler that throws before returning a promise, and one that returns a plain value.
  await assert.rejects(
    withinDeadline(Date.now() + 1000, () => {
      throw new Error('at once')
    }),
    /at once/,
  )
  assert.equal(await withinDeadline(Date.now() + 1000, (() => 7) as never), 7)
  await assert.rejects(
    withinDeadline(Date.now() - 1, async () => 'late'),
    expired,
  )
})

test('each call expires at its own deadline, one set after a later one included', async () => {
  const started = Date.now()
  const late = withinDeadline(started + 400, never).catch((error: unknown) => ({ error, at: Date.now() }))
  // Set after the timer was armed for the later deadline: it must still fire first.
  const early = withinDeadline(started + 60, never).catch((error: unknown) => ({ error, at: Date.now() }))
  const settled = withinDeadline(started + 80, async () => 'in time')
  const first = await early
  assert.ok(expired(first.error))
  assert.ok(first.at - started < 300, `the early deadline fired after ${first.at - started} ms`)
  assert.equal(await settled, 'in time')
  const second = await late
  assert.ok(expired(second.error))
  assert.ok(second.at - started >= 399, `the late deadline fired after ${second.at - started} ms`)
})
