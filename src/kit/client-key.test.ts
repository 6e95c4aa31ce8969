import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientKey } from './client-key.ts'

test('an IPv4 address is its own key; IPv4-mapped IPv6 is the IPv4 address; IPv6 counts by its /64', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7')
  assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7')
  assert.equal(clientKey('2001:db8:1:2::1'), clientKey('2001:db8:1:2:ffff::9'))
  assert.notEqual(clientKey('2001:db8:1:2::1'), clientKey('2001:db8:1:3::1'))
})
