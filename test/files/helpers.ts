// Shared by the files suites: a node with identity, catalog and files in-process (or files proxied),
// real HTTP with fetch, users signed in, and images made with sharp.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import sharp from 'sharp'
import { login, ADMIN_EMAIL, ADMIN_PASSWORD } from '../auth.ts'

export { customer } from '../helpers/users.ts'
export { problemOf } from '../helpers/http.ts'
export { eventually } from '../helpers/wait.ts'

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

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

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
export async function upload(
  url: string,
  token: string,
  bytes: Buffer,
  filename = 'picture.png',
  type = 'image/png',
  visibility?: string,
): Promise<Response> {
  const target = new URL('/api/files', url)
  if (visibility !== undefined) target.searchParams.set('visibility', visibility)
  return fetch(target, { method: 'POST', headers: bearer(token), body: form(bytes, filename, type) })
}

export async function uploaded(
  url: string,
  token: string,
  bytes: Buffer,
  filename?: string,
  visibility?: 'public' | 'private',
): Promise<FileMeta> {
  const response = await upload(url, token, bytes, filename, undefined, visibility)
  assert.equal(response.status, 201, await response.clone().text())
  return (await response.json()) as FileMeta
}
