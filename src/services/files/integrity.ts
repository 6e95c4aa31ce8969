// Reading stored bytes back: every byte is hashed on the way out and compared with the SHA-256
// taken at upload, so a file damaged on disk is an error, never wrong content served as right.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { MosaicError } from '../../kit/index.ts'

/** Inclusive byte offsets, as in Content-Range. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

export function corrupt(id: string): MosaicError {
  return new MosaicError('file_corrupt', { detail: `file ${id} does not match its SHA-256` })
}

/**
 * The bytes of `range` (all by default) from `source`, checked against `sha256`. The whole file
 * is read and hashed even for a range; the last chunk is held back until the hash is known, so a
 * corrupt file ends the stream with an error before the answer is complete (a client sees a cut
 * connection, short of Content-Length, never a quietly wrong body).
 */
export function verified(source: Readable, sha256: string, id: string, range?: ByteRange): Readable {
  async function* check(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256')
    let offset = 0
    let held: Buffer | undefined
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk)
      const from = range ? Math.max(range.start - offset, 0) : 0
      const to = range ? Math.min(range.end + 1 - offset, chunk.length) : chunk.length
      offset += chunk.length
      if (from < to) {
        if (held) yield held
        held = chunk.subarray(from, to)
      }
    }
    if (hash.digest('hex') !== sha256) throw corrupt(id)
    if (held) yield held
  }
  return Readable.from(check(), { objectMode: false })
}

/** Reads a stream whole: for answers small enough to check completely before the first byte goes out. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/**
 * `Range: bytes=...` against a file of `size` bytes: a range, `unsatisfiable`, or undefined to
 * send the whole file (no header, a syntax we ignore as RFC 9110 allows, or several ranges: a
 * multipart/byteranges answer is not worth its weight for images and PDFs).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!match || (match[1] === '' && match[2] === '')) return undefined
  const [first, last] = [match[1]!, match[2]!]
  if (first === '') {
    // Suffix: the last N bytes.
    const length = Number(last)
    if (length === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(size - length, 0), end: size - 1 }
  }
  const start = Number(first)
  if (start >= size) return 'unsatisfiable'
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return undefined // invalid: ignored, the whole file is sent
  return { start, end }
}

/** If-None-Match against our strong ETag: `*`, or any listed tag (weak comparison, as RFC 9110 says for this header). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}
