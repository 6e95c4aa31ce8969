// Shared by the files suites: a node with identity, catalog and files in-process (or files proxied),
// real HTTP with fetch, users signed in, and images made with sharp.
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import sharp from 'sharp'
import { login, ADMIN_EMAIL, ADMIN_PASSWORD } from '../auth.ts'

export const PASSWORD = 'Tr0ub4dor&3-not-common'

export interface FileMeta {
  id: string
  filename: string
  contentType: string
  size: number
  sha256: string
  ownerId: string
  thumbnail: 'pending' | 'ready' | 'failed' | 'none'
  visibility: 'private' | 'public'
  createdAt: string
}

export interface Problem { code: string, status: number, detail?: string }

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** Registers a customer and signs them in: their access token and user id. */
export async function customer(url: string): Promise<{ token: string, userId: string }> {
  const email = `files-${randomUUID().slice(0, 8)}@example.test`
  const registered = await fetch(new URL('/api/users', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD, name: 'Files' }) })
  assert.equal(registered.status, 201, await registered.clone().text())
  const { id } = await registered.json() as { id: string }
  return { token: (await login(url, email, PASSWORD)).accessToken, userId: id }
}

export async function admin(url: string): Promise<string> {
  return (await login(url, ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken
}

/** A real PNG of `width`×`height`; `noise` makes it incompressible (so its size is about w×h×3). */
export function png(width: number, height: number, noise = false): Promise<Buffer> {
  const image = noise
    ? sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    : sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 90 } } })
  return image.png({ compressionLevel: noise ? 0 : 6 }).toBuffer()
}

export function form(bytes: Buffer, filename: string, type = 'application/octet-stream'): FormData {
  const body = new FormData()
  body.append('file', new Blob([new Uint8Array(bytes)], { type }), filename)
  return body
}

/** `visibility` goes in the query (`?visibility=public`); left out, the service's default (private) applies. */
export async function upload(url: string, token: string, bytes: Buffer, filename = 'picture.png', type = 'image/png', visibility?: string): Promise<Response> {
  const target = new URL('/api/files', url)
  if (visibility !== undefined) target.searchParams.set('visibility', visibility)
  return fetch(target, { method: 'POST', headers: bearer(token), body: form(bytes, filename, type) })
}

export async function uploaded(url: string, token: string, bytes: Buffer, filename?: string, visibility?: 'public' | 'private'): Promise<FileMeta> {
  const response = await upload(url, token, bytes, filename, undefined, visibility)
  assert.equal(response.status, 201, await response.clone().text())
  return await response.json() as FileMeta
}

export async function problemOf(response: Response, status: number, code: string): Promise<Problem> {
  const text = await response.text()
  assert.equal(response.status, status, text)
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, text)
  const problem = JSON.parse(text) as Problem
  assert.equal(problem.code, code, text)
  return problem
}

/** Polls `check` until it returns something truthy, or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > until) assert.fail(`${what} not met within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
