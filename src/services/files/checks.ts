// What an upload must pass before it is kept: a size limit counted on the bytes themselves (not on
// a Content-Length a client may lie in), and a type sniffed from the first bytes by file-type.
import { MosaicError } from '../../kit/index.ts'
import { ALLOWED_TYPES } from './contract.ts'

/** Enough for file-type to recognise every allowed format (its own sample size). */
const SNIFF_BYTES = 4100

export function tooLarge(maxBytes: number): MosaicError {
  return new MosaicError('payload_too_large', { detail: `a file may have at most ${maxBytes} bytes (FILE_MAX_BYTES)` })
}

export interface Sniffed {
  contentType?: string
}

/**
 * Passes `source` through, failing with 413 past `maxBytes` and with 415 when the first bytes are
 * not an allowed type. Fails before the storage sees the first byte for a type, and as soon as
 * the limit is crossed for a size, so a refused upload is never written whole.
 */
export async function* checkedUpload(
  source: AsyncIterable<Buffer>,
  maxBytes: number,
  sniffed: Sniffed,
): AsyncGenerator<Buffer> {
  let size = 0
  let head: Buffer[] | undefined = []
  let headSize = 0
  const release = async (): Promise<Buffer> => {
    const bytes = Buffer.concat(head!)
    head = undefined
    // Loaded on the first upload, not by every start.
    const type = await (await import('file-type')).fileTypeFromBuffer(bytes)
    if (!type || !(ALLOWED_TYPES as readonly string[]).includes(type.mime)) {
      throw new MosaicError('file_type_not_allowed', {
        detail: `the content is ${type ? type.mime : 'not a recognised format'}; allowed: ${ALLOWED_TYPES.join(', ')}`,
      })
    }
    sniffed.contentType = type.mime
    return bytes
  }
  for await (const chunk of source) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge(maxBytes)
    if (!head) {
      yield chunk
      continue
    }
    head.push(chunk)
    headSize += chunk.length
    if (headSize >= SNIFF_BYTES) yield await release()
  }
  if (head) yield await release()
}
