// The files service in its own process behind the gateway's proxy: the streamed upload body, the
// streamed download, ranges and conditional requests all pass through @fastify/http-proxy.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, spawnNode, type Child } from '../process.ts'
import { adminEnv, INTERNAL_SECRET } from '../auth.ts'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import files from '../../src/services/files/service.ts'
import { admin, png, upload, uploaded, problemOf, bearer } from './helpers.ts'

let dataDir: string
let service: Child
let gateway: MosaicNode

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mosaic-files-split-'))
  service = await spawnNode([cli, 'serve', 'files'], {
    FILES_SERVICE_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    FILE_MAX_BYTES: '100000',
    MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
  })
  gateway = await startNode({
    role: 'gateway',
    services: [identity, files],
    port: 0,
    env: {
      FILES_SERVICE_URL: service.url,
      MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
      HOST: '127.0.0.1',
      DATA_DIR: ':memory:',
      LOG_LEVEL: 'silent',
      ...adminEnv,
    },
  })
})

after(async () => {
  await gateway?.stop()
  await service?.kill('SIGTERM')
  await rm(dataDir, { recursive: true, force: true })
})

test('upload, download, range and 304 through the proxy; the refusals too', async () => {
  assert.equal(gateway.services.has('files'), false, 'proxied, not in-process')
  const token = await admin(gateway.url)
  const bytes = await png(64, 64, true)
  const meta = await uploaded(gateway.url, token, bytes)
  const download = await fetch(new URL(`/api/files/${meta.id}`, gateway.url), { headers: bearer(token) })
  assert.equal(download.status, 200)
  assert.equal(download.headers.get('content-type'), 'image/png')
  assert.deepEqual(Buffer.from(await download.arrayBuffer()), bytes)
  const part = await fetch(new URL(`/api/files/${meta.id}`, gateway.url), {
    headers: { ...bearer(token), range: 'bytes=-16' },
  })
  assert.equal(part.status, 206)
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(bytes.length - 16))
  assert.equal(
    (
      await fetch(new URL(`/api/files/${meta.id}`, gateway.url), {
        headers: { ...bearer(token), 'if-none-match': `"${meta.sha256}"` },
      })
    ).status,
    304,
  )
  await problemOf(
    await upload(gateway.url, token, Buffer.from('#!/bin/sh\necho hi\n'), 'x.png'),
    415,
    'file_type_not_allowed',
  )
  const big = await upload(gateway.url, token, Buffer.concat([bytes, Buffer.alloc(100_000)])).catch(
    (error: unknown) => error as Error,
  )
  assert.ok(big instanceof Response, String(big))
  await problemOf(big, 413, 'payload_too_large')
  await problemOf(
    await fetch(new URL('/api/files', gateway.url), { method: 'POST', body: new FormData() }),
    401,
    'unauthenticated',
  )
})

test('a public file is served to anonymous callers through the proxy; a private one is a 404', async () => {
  const token = await admin(gateway.url)
  const bytes = await png(16, 16)
  const shown = await uploaded(gateway.url, token, bytes, 'shown.png', 'public')
  const anonymous = await fetch(new URL(`/api/files/${shown.id}`, gateway.url))
  assert.equal(anonymous.status, 200)
  assert.match(anonymous.headers.get('cache-control') ?? '', /^public, max-age=\d+$/)
  assert.deepEqual(Buffer.from(await anonymous.arrayBuffer()), bytes)
  const hidden = await uploaded(gateway.url, token, bytes, 'hidden.png')
  await problemOf(await fetch(new URL(`/api/files/${hidden.id}`, gateway.url)), 404, 'not_found')
})
