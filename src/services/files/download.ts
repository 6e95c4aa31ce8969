// Answering with stored bytes (a file or its thumbnail): conditional requests, single ranges, and
// headers that keep a browser from treating an upload as anything but what was sniffed.
import type { Readable } from 'node:stream'
import { MosaicError, type RouteContext } from '../../kit/index.ts'
import type { Storage } from './storage.ts'
import { verified, collect, parseRange, matchesEtag } from './integrity.ts'

/** Answers up to this size are read and checked whole before the first byte is sent, so a corrupt file is a clean 500. */
const CHECK_BEFORE_SENDING = 256 * 1024

export interface Blob {
  readonly id: string
  readonly sha256: string
  readonly size: number
  readonly contentType: string
  readonly filename: string
}

type Headers = Readonly<Record<string, string | string[] | undefined>>
const one = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value)

/** RFC 6266: an ASCII fallback and the exact UTF-8 name; images inline, anything else (PDF) downloaded. */
export function contentDisposition(filename: string, contentType: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const exact = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `${contentType.startsWith('image/') ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${exact}`
}

/**
 * A public file may be kept by any cache (a CDN, the browser) for `maxAge` seconds, then revalidated
 * by ETag; its bytes never change under its id, so only making it private or deleting it goes stale,
 * for at most `maxAge`. A private one: only the owner and staff may see it, so no shared cache keeps
 * it, and no-cache makes the browser ask (cheaply, by ETag) each time.
 */
export function cacheControl(visibility: 'public' | 'private', maxAge: number): string {
  return visibility === 'public' ? `public, max-age=${maxAge}` : 'private, no-cache'
}

export async function sendBlob(
  ctx: RouteContext,
  headers: Headers,
  blob: Blob,
  storage: Storage,
  caching: string,
): Promise<Readable | Buffer | string> {
  // The SHA-256 is the content's identity: a strong ETag for free.
  const etag = `"${blob.sha256}"`
  ctx.setHeader('etag', etag)
  ctx.setHeader('cache-control', caching)
  ctx.setHeader('accept-ranges', 'bytes')
  if (matchesEtag(one(headers['if-none-match']), etag)) {
    ctx.setStatus(304)
    return ''
  }
  let range = parseRange(one(headers.range), blob.size)
  // If-Range: the range only applies to the version the client holds a part of.
  const ifRange = one(headers['if-range'])
  if (ifRange !== undefined && ifRange !== etag) range = undefined
  if (range === 'unsatisfiable') {
    ctx.setHeader('content-range', `bytes */${blob.size}`)
    throw new MosaicError('range_not_satisfiable', { detail: `the file has ${blob.size} bytes` })
  }
  const stream = verified(await storage.get(blob.id), blob.sha256, blob.id, range)
  const body = blob.size <= CHECK_BEFORE_SENDING ? await collect(stream) : stream
  ctx.setHeader('content-type', blob.contentType)
  ctx.setHeader('x-content-type-options', 'nosniff')
  ctx.setHeader('content-disposition', contentDisposition(blob.filename, blob.contentType))
  ctx.setHeader('content-length', String(range ? range.end - range.start + 1 : blob.size))
  if (range) {
    ctx.setStatus(206)
    ctx.setHeader('content-range', `bytes ${range.start}-${range.end}/${blob.size}`)
  }
  return body
}
