// /metrics is served on METRICS_PORT, a server of its own, and never on the public port, for the
// gateway and for a service running alone; METRICS_PORT=off serves none; a taken port is one line.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { startNode } from '../../src/runtime/node.ts'
import catalog from '../../src/services/catalog/service.ts'
import identity from '../../src/services/identity/service.ts'
import { StartupError } from '../../src/runtime/startup-error.ts'
import { testEnv, INTERNAL_SECRET } from '../auth.ts'

test('the gateway and a service alone serve /metrics on METRICS_PORT only', async (t) => {
  for (const role of ['gateway', 'service'] as const) {
    const node = await startNode({
      role,
      services: role === 'gateway' ? [identity, catalog] : [catalog],
      port: 0,
      env: testEnv({ METRICS_PORT: '0', MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET }),
    })
    t.after(() => node.stop())
    assert.equal((await fetch(new URL('/health/live', node.url))).status, 200)
    const publicMetrics = await fetch(new URL('/metrics', node.url))
    assert.equal(publicMetrics.status, 404, `${role}: not on the public port`)
    assert.doesNotMatch(await publicMetrics.text(), /http_server_request_duration/)

    assert.ok(node.metricsUrl, role)
    assert.notEqual(new URL(node.metricsUrl).port, new URL(node.url).port)
    const metrics = await fetch(node.metricsUrl)
    assert.equal(metrics.status, 200)
    assert.match(metrics.headers.get('content-type')!, /^text\/plain/)
    assert.match(
      await metrics.text(),
      /^http_server_request_duration_seconds_count\{service="(gateway|catalog)",http_request_method="GET",http_route="\/health\/live"/m,
    )
    assert.equal(
      (await fetch(new URL('/api/products', node.metricsUrl))).status,
      404,
      'the metrics port serves nothing else',
    )
  }
})

test('METRICS_PORT=off serves no metrics; a taken METRICS_PORT stops the start with a StartupError naming it', async (t) => {
  const off = await startNode({
    role: 'gateway',
    services: [identity, catalog],
    port: 0,
    env: testEnv({ METRICS_PORT: 'off' }),
  })
  t.after(() => off.stop())
  assert.equal(off.metricsUrl, undefined)

  const taken = createServer().listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.after(() => taken.close())
  const port = (taken.address() as AddressInfo).port
  await assert.rejects(
    startNode({
      role: 'gateway',
      services: [identity, catalog],
      port: 0,
      env: testEnv({ METRICS_PORT: String(port) }),
    }),
    (error: unknown) =>
      error instanceof StartupError &&
      error.message.startsWith(`port ${port} on 127.0.0.1 is already in use (METRICS_PORT)`),
  )
})
