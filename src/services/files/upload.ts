// Receiving one file from a multipart/form-data request, streamed: busboy splits the parts, the
// file part goes through the checks into storage as it arrives, and nothing is held whole.
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import { MosaicError } from '../../kit/index.ts'
import type { Storage, Stored } from './storage.ts'
import { checkedUpload, type Sniffed } from './checks.ts'

export interface Received extends Stored {
  readonly filename: string
  readonly contentType: string
}

type Headers = Readonly<Record<string, string | string[] | undefined>>

// eslint-disable-next-line no-control-regex -- control characters are what is being removed
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g

/** The client's name without any directory part or control characters; only ever shown, never a path. */
export function cleanFilename(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).pop()!.replace(CONTROL_CHARACTERS, '').trim()
  return base.slice(0, 200) || 'file'
}

/**
 * Stores the first file part of `request` under `id`. Fails (storing nothing) when the request is
 * not multipart, has no file, is cut off, exceeds `maxBytes` or is not an allowed type; later
 * file parts are ignored (busboy's `files: 1`): one file per request.
 */
export function receiveFile(
  request: Readable,
  headers: Headers,
  id: string,
  storage: Storage,
  maxBytes: number,
  signal: AbortSignal,
): Promise<Received> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy
    try {
      // One byte over the limit still reaches checkedUpload, which turns it into a 413 (busboy alone would truncate silently).
      parser = busboy({
        headers: headers as Record<string, string>,
        limits: { files: 1, fileSize: maxBytes + 1, fields: 20, fieldSize: 8 * 1024, parts: 30 },
        defParamCharset: 'utf8',
      })
    } catch (error) {
      reject(
        new MosaicError('unsupported_media_type', {
          detail: `expected multipart/form-data with a boundary: ${(error as Error).message}`,
        }),
      )
      return
    }
    let file: Readable | undefined
    let settled = false
    const fail = (error: Error): void => {
      if (settled) return
      settled = true
      request.unpipe(parser)
      // Ends the storage's pipeline, which removes its temporary file.
      file?.destroy(error)
      reject(error)
    }
    const aborted = (): void =>
      fail(new MosaicError('bad_request', { detail: 'the upload was cut off before it ended' }))
    request.once('aborted', aborted)
    request.once('error', aborted)
    request.once('close', () => {
      if (!request.readableEnded) aborted()
    })
    signal.addEventListener(
      'abort',
      () => fail(new MosaicError('deadline_exceeded', { detail: 'the upload took longer than the request timeout' })),
      { once: true },
    )

    parser.on('file', (_field, stream, info) => {
      if (file || settled) {
        stream.resume()
        return
      }
      file = stream
      const sniffed: Sniffed = {}
      storage.put(id, checkedUpload(stream, maxBytes, sniffed)).then((stored) => {
        if (settled) {
          // Failed after the bytes were complete (the client went away at the very end): drop them.
          void storage.delete(id)
          return
        }
        settled = true
        resolve({ ...stored, filename: cleanFilename(info.filename), contentType: sniffed.contentType! })
      }, fail)
    })
    parser.on('error', (error: Error) =>
      fail(new MosaicError('bad_request', { detail: `malformed multipart body: ${error.message}` })),
    )
    parser.on('close', () => {
      if (!file)
        fail(
          new MosaicError('validation_failed', {
            issues: [{ path: '/file', code: 'required', message: 'a file part is required' }],
          }),
        )
    })
    request.pipe(parser)
  })
}
