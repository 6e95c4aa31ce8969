import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { sideBySide } from './side-by-side.ts'

test('side by side: every result, in order', async () => {
  assert.deepEqual(await sideBySide([sleep(5).then(() => 'slow'), Promise.resolve(2), false]), ['slow', 2, false])
})

test('a failure is reported only once everything else has settled', async () => {
  let slowDone = false
  const slow = sleep(20).then(() => {
    slowDone = true
  })
  await assert.rejects(sideBySide([Promise.reject(new Error('first')), slow]), /first/)
  assert.equal(slowDone, true, 'nothing may still run when the transaction ends')
})

test('the cause is reported, not a statement refused because the transaction was aborted', async () => {
  const aborted = Object.assign(new Error('current transaction is aborted'), { code: '25P02' })
  const cause = Object.assign(new Error('duplicate key'), { code: '23505' })
  await assert.rejects(sideBySide([Promise.reject(aborted), Promise.reject(cause)]), /duplicate key/)
  await assert.rejects(sideBySide([Promise.reject(aborted)]), /aborted/)
})
