// Public and private files (embedded: gateway, identity, catalog and files in one process, real
// HTTP): anyone reads a public file and its thumbnail, with shared-cache headers; a private one is a
// 404 to anyone but its owner and staff; only staff publish; product images must be public.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import files from '../../src/services/files/service.ts'
import { testEnv } from '../auth.ts'
import { customer, admin, png, upload, uploaded, problemOf, eventually, bearer, type FileMeta } from './helpers.ts'

const MAX_AGE = 600
let node: MosaicNode
let storage: string
let owner: { token: string; userId: string }
let stranger: { token: string; userId: string }
let staff: string

before(async () => {
  storage = await mkdtemp(join(tmpdir(), 'mosaic-files-visibility-'))
  node = await startNode({
    role: 'gateway',
    services: [identity, catalog, files],
    port: 0,
    env: testEnv({ STORAGE_PATH: storage, FILES_PROCESS_POLL_MS: '100', FILES_PUBLIC_MAX_AGE: String(MAX_AGE) }),
  })
  ;[owner, stranger, staff] = await Promise.all([customer(node.url), customer(node.url), admin(node.url)])
})

after(async () => {
  await node?.stop()
  await rm(storage, { recursive: true, force: true })
})

/** Signed in with `token`, or anonymous when it is undefined. */
const get = (path: string, token?: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(new URL(path, node.url), { headers: { ...(token ? bearer(token) : {}), ...headers } })
const patch = (id: string, token: string, body: unknown): Promise<Response> =>
  fetch(new URL(`/api/files/${id}`, node.url), {
    method: 'PATCH',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
const filesDb = () => node.services.get('files')!.context.db
const rowCount = async (): Promise<number> =>
  Number((await filesDb().query<{ n: bigint }>('select count(*) as n from files'))[0]!.n)

/** How many events of `type` the files service has relayed, once its outbox is empty. */
async function relayed(type: string): Promise<number> {
  const metrics = await eventually(
    'the files outbox drained',
    async () => {
      const text = await (await fetch(node.metricsUrl!)).text()
      return /^mosaic_outbox_backlog\{service="files"\} 0$/m.test(text) && text
    },
    5000,
  )
  const line = metrics
    .split('\n')
    .find(
      (l) =>
        l.startsWith('messaging_client_sent_messages_total{') && l.includes(`messaging_destination_name="${type}"`),
    )
  return line ? Number(line.split(' ').at(-1)) : 0
}

test('a public file and its thumbnail: anyone reads them, cacheable by shared caches, revalidated by ETag', async () => {
  const bytes = await png(600, 300)
  const meta = await uploaded(node.url, staff, bytes, 'banner.png', 'public')
  assert.equal(meta.visibility, 'public')

  for (const token of [undefined, stranger.token]) {
    const response = await get(`/api/files/${meta.id}`, token)
    assert.equal(response.status, 200, await response.clone().text())
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes)
    assert.equal(response.headers.get('cache-control'), `public, max-age=${MAX_AGE}`)
    assert.equal(response.headers.get('etag'), `"${meta.sha256}"`)
    assert.equal(response.headers.get('content-type'), 'image/png')
  }
  const revalidated = await get(`/api/files/${meta.id}`, undefined, { 'if-none-match': `"${meta.sha256}"` })
  assert.equal(revalidated.status, 304)
  assert.equal(revalidated.headers.get('cache-control'), `public, max-age=${MAX_AGE}`)
  assert.equal(await revalidated.text(), '')
  const part = await get(`/api/files/${meta.id}`, undefined, { range: 'bytes=0-7' })
  assert.equal(part.status, 206)
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(0, 8))

  const thumbnail = await eventually(
    'thumbnail served anonymously',
    async () => {
      const response = await get(`/api/files/${meta.id}/thumbnail`)
      if (response.status !== 200) {
        await problemOf(response, 404, 'thumbnail_not_ready')
        return undefined
      }
      assert.equal(response.headers.get('cache-control'), `public, max-age=${MAX_AGE}`)
      assert.match(response.headers.get('etag') ?? '', /^"[0-9a-f]{64}"$/)
      return Buffer.from(await response.arrayBuffer())
    },
    10_000,
  )
  assert.deepEqual(
    [(await sharp(thumbnail).metadata()).width, (await sharp(thumbnail).metadata()).format],
    [256, 'webp'],
  )
  // `optional`: credentials that are sent are still checked.
  await problemOf(await get(`/api/files/${meta.id}`, 'not-a-token'), 401, 'unauthenticated')
})

test('a private file is a 404 to anonymous callers and other customers, exactly as a missing one; its owner and staff read it uncached by others', async () => {
  const meta = await uploaded(node.url, owner.token, await png(20, 20))
  assert.equal(meta.visibility, 'private', 'private unless asked')
  await eventually(
    'thumbnail made',
    async () => (await get(`/api/files/${meta.id}/thumbnail`, owner.token)).status === 200,
    10_000,
  )

  const missing = await problemOf(await get(`/api/files/${randomUUID()}`), 404, 'not_found')
  for (const token of [undefined, stranger.token]) {
    const hidden = await problemOf(await get(`/api/files/${meta.id}`, token), 404, 'not_found')
    assert.equal(hidden.detail, `file ${meta.id} does not exist`)
    assert.equal(
      missing.detail?.replace(/file \S+ /, ''),
      hidden.detail?.replace(/file \S+ /, ''),
      'nothing tells hidden from missing',
    )
    await problemOf(await get(`/api/files/${meta.id}/thumbnail`, token), 404, 'not_found')
  }
  for (const token of [owner.token, staff]) {
    const response = await get(`/api/files/${meta.id}`, token)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('cache-control'), 'private, no-cache')
    await response.arrayBuffer()
  }
})

test('customers cannot publish: a public upload is a 403 before any byte is kept, and PATCH is staff only', async () => {
  const rows = await rowCount()
  const before = (await readdir(storage)).length
  await problemOf(
    await upload(node.url, owner.token, await png(10, 10), 'mine.png', 'image/png', 'public'),
    403,
    'forbidden',
  )
  assert.equal(await rowCount(), rows, 'no row')
  assert.equal((await readdir(storage)).length, before, 'no bytes, not even a temporary file')
  await problemOf(
    await upload(node.url, staff, await png(10, 10), 'odd.png', 'image/png', 'everyone'),
    400,
    'invalid_parameters',
  )
  assert.equal(await rowCount(), rows)

  const mine = await uploaded(node.url, owner.token, await png(10, 10))
  await problemOf(await patch(mine.id, owner.token, { visibility: 'public' }), 403, 'forbidden')
  await problemOf(await patch(mine.id, stranger.token, { visibility: 'public' }), 403, 'forbidden')
  await problemOf(
    await fetch(new URL(`/api/files/${mine.id}`, node.url), {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"visibility":"public"}',
    }),
    401,
    'unauthenticated',
  )
  await problemOf(await get(`/api/files/${mine.id}`), 404, 'not_found')
  const [row] = await filesDb().query<{ visibility: string }>('select visibility from files where id = $1', [mine.id])
  assert.equal(row!.visibility, 'private', 'unchanged')
})

test('staff publish a file and make it private again; file.visibility_changed is published once per change', async () => {
  const sent = await relayed('file.visibility_changed')
  const meta = await uploaded(node.url, owner.token, await png(10, 10))
  await problemOf(await patch(meta.id, staff, { visibility: 'secret' }), 422, 'validation_failed')
  await problemOf(await patch(meta.id, staff, {}), 422, 'validation_failed')
  await problemOf(await patch(randomUUID(), staff, { visibility: 'public' }), 404, 'not_found')

  const published = await patch(meta.id, staff, { visibility: 'public' })
  assert.equal(published.status, 200, await published.clone().text())
  // The thumbnail may have been made meanwhile; everything else is as uploaded, but public.
  assert.deepEqual(
    { ...((await published.json()) as FileMeta), thumbnail: meta.thumbnail },
    { ...meta, visibility: 'public' },
  )
  assert.equal((await get(`/api/files/${meta.id}`)).status, 200, 'anonymous may read it now')
  assert.equal((await patch(meta.id, staff, { visibility: 'public' })).status, 200, 'again: no change, no event')

  const hidden = await patch(meta.id, staff, { visibility: 'private' })
  assert.equal(((await hidden.json()) as FileMeta).visibility, 'private')
  await problemOf(await get(`/api/files/${meta.id}`), 404, 'not_found')
  assert.equal((await get(`/api/files/${meta.id}`, owner.token)).status, 200, "still its owner's")
  assert.equal(await relayed('file.visibility_changed'), sent + 2)
})

test('catalog images must be public: a private one is a 422 naming the problem, a public one is shown to anonymous shoppers', async () => {
  const privateImage = await uploaded(node.url, staff, await png(30, 30))
  const bytes = await png(30, 30, true)
  const publicImage = await uploaded(node.url, staff, bytes, 'product.png', 'public')
  const pdf = await uploaded(
    node.url,
    staff,
    Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n'),
    'doc.pdf',
    'public',
  )
  const create = (body: object): Promise<Response> =>
    fetch(new URL('/api/products', node.url), {
      method: 'POST',
      headers: { ...bearer(staff), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const update = (id: string, body: object): Promise<Response> =>
    fetch(new URL(`/api/products/${id}`, node.url), {
      method: 'PATCH',
      headers: { ...bearer(staff), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  const refused = (await problemOf(
    await create({ name: 'Hidden picture', price: 3, imageFileId: privateImage.id }),
    422,
    'validation_failed',
  )) as { errors?: { path: string; message: string }[] }
  assert.equal(refused.errors?.[0]?.path, '/imageFileId')
  assert.match(refused.errors?.[0]?.message ?? '', /private/)
  await problemOf(
    await create({ name: 'Ghost picture', price: 3, imageFileId: randomUUID() }),
    422,
    'validation_failed',
  )
  await problemOf(await create({ name: 'Paper picture', price: 3, imageFileId: pdf.id }), 422, 'validation_failed')

  const created = await create({ name: 'Pictured', price: 3, imageFileId: publicImage.id })
  assert.equal(created.status, 201, await created.clone().text())
  const product = (await created.json()) as { id: string; imageFileId: string | null }
  assert.equal(product.imageFileId, publicImage.id)
  await problemOf(await update(product.id, { imageFileId: privateImage.id }), 422, 'validation_failed')

  // What a shopper's browser does: the product, then its image, neither signed in.
  const shown = (await (await get(`/api/products/${encodeURIComponent(product.id)}`)).json()) as { imageFileId: string }
  assert.equal(shown.imageFileId, publicImage.id, 'the refused update changed nothing')
  const image = await get(`/api/files/${shown.imageFileId}`)
  assert.equal(image.status, 200)
  assert.equal(image.headers.get('content-type'), 'image/png')
  assert.deepEqual(Buffer.from(await image.arrayBuffer()), bytes)

  const cleared = await update(product.id, { imageFileId: null })
  assert.equal(cleared.status, 200, await cleared.clone().text())
  assert.equal(((await cleared.json()) as { imageFileId: string | null }).imageFileId, null)
})
