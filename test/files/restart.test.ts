// Thumbnail work survives a restart: a node that does not process (FILES_PROCESSING=false, as if
// it died before getting to it) takes an upload; the next node on the same data finishes the work.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import files from '../../src/services/files/service.ts'
import { adminEnv } from '../auth.ts'
import { tempDataDir } from '../process.ts'
import { admin, png, uploaded, eventually, bearer } from './helpers.ts'

test('pending thumbnails are made after a restart', async (t) => {
  const dataDir = await tempDataDir(t, 'mosaic-files-restart-')
  const env = {
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    EVENT_POLL_MS: '50',
    FILES_PROCESS_POLL_MS: '100',
    ...adminEnv,
  }
  const first = await startNode({
    role: 'gateway',
    services: [identity, files],
    port: 0,
    env: { ...env, FILES_PROCESSING: 'false' },
  })
  let id: string
  try {
    const meta = await uploaded(first.url, await admin(first.url), await png(300, 300))
    id = meta.id
    assert.equal(meta.thumbnail, 'pending')
  } finally {
    await first.stop()
  }
  const second = await startNode({ role: 'gateway', services: [identity, files], port: 0, env })
  try {
    const token = await admin(second.url)
    const thumbnail = await eventually(
      'the thumbnail after the restart',
      async () => {
        const response = await fetch(new URL(`/api/files/${id}/thumbnail`, second.url), { headers: bearer(token) })
        return response.status === 200 ? response : undefined
      },
      15_000,
    )
    assert.equal(thumbnail.headers.get('content-type'), 'image/webp')
    const original = await fetch(new URL(`/api/files/${id}`, second.url), { headers: bearer(token) })
    assert.equal(original.status, 200, 'the bytes are under DATA_DIR/files and survive too')
  } finally {
    await second.stop()
  }
})
