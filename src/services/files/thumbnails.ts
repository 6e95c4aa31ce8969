// Thumbnails, made in the background by a kit worker: the files table is the queue (rows in
// `pending`), so work survives a restart, and a claim is a lease (`working` since `claimed_at`)
// that another replica may take over if its holder died. The image work runs outside any
// transaction: a PGlite transaction holds the only connection, and sharp takes a while.
import { randomUUID } from 'node:crypto'
import { startWorker, type ServiceContext } from '../../kit/index.ts'
import type { FilesContract } from './contract.ts'
import type { Storage } from './storage.ts'
import { verified } from './integrity.ts'

export interface ThumbnailOptions {
  /** Longest side of a thumbnail, pixels. */
  readonly size: number
  /** How often to look for work besides being woken by an upload. */
  readonly pollMs: number
  /** Tries before a file's thumbnail is given up as `failed`. */
  readonly maxAttempts: number
  /** A claim older than this is taken to be abandoned (its process died). */
  readonly leaseMs: number
}

export interface ThumbnailWorker {
  /** Look for work now (after an upload) rather than at the next poll. */
  wake(): void
  /** Finishes the file in hand, then stops. */
  stop(): Promise<void>
}

interface Job {
  id: string
  tenant_id: string
  owner_id: string
  sha256: string
  attempts: number
}

/** Images larger than this many pixels are refused before decoding (decompression bombs). */
const MAX_INPUT_PIXELS = 50_000_000

export function startThumbnails(
  ctx: ServiceContext<FilesContract>,
  storage: Storage,
  options: ThumbnailOptions,
): ThumbnailWorker {
  const claim = (): Promise<Job[]> =>
    ctx.db.query<Job>(
      `update files set thumbnail = 'working', claimed_at = now(), attempts = attempts + 1
       where id = (select id from files
                   where thumbnail = 'pending' or (thumbnail = 'working' and claimed_at < now() - $1::integer * interval '1 millisecond')
                   order by created_at limit 1 for update skip locked)
       returning id, tenant_id, owner_id, sha256, attempts`,
      [options.leaseMs],
    )

  const makeThumbnail = async (job: Job): Promise<void> => {
    const ref = { id: job.id, ownerId: job.owner_id, tenantId: job.tenant_id }
    const thumbnailId = randomUUID()
    try {
      const source = verified(await storage.get(job.id), job.sha256, job.id)
      // sharp (libvips) is loaded by the first thumbnail, not at start: a process may never make one.
      const { default: sharp } = await import('sharp')
      const resize = sharp({ limitInputPixels: MAX_INPUT_PIXELS, animated: false })
        .rotate() // by the EXIF orientation, which is then dropped with the rest of the metadata
        .resize(options.size, options.size, { fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 80 })
      source.on('error', (error) => resize.destroy(error))
      const stored = await storage.put(thumbnailId, source.pipe(resize))
      const kept = await ctx.db.transaction(async (tx) => {
        const updated = await tx.query(
          `update files set thumbnail = 'ready', thumbnail_id = $2, thumbnail_size = $3, thumbnail_sha256 = $4, claimed_at = null
           where id = $1 and thumbnail = 'working' returning id`,
          [job.id, thumbnailId, stored.size, stored.sha256],
        )
        if (updated.length > 0) await tx.publish('file.processed', { ...ref, status: 'ready' }, { subject: job.id })
        return updated.length > 0
      })
      if (!kept) await storage.delete(thumbnailId) // the file was deleted meanwhile
    } catch (error) {
      await storage.delete(thumbnailId)
      const final = job.attempts >= options.maxAttempts
      ctx.log.warn({ err: error, file: job.id, attempt: job.attempts, final }, 'thumbnail failed')
      await ctx.db.transaction(async (tx) => {
        const updated = await tx.query(
          `update files set thumbnail = $2, claimed_at = null where id = $1 and thumbnail = 'working' returning id`,
          [job.id, final ? 'failed' : 'pending'],
        )
        if (final && updated.length > 0)
          await tx.publish('file.processed', { ...ref, status: 'failed' }, { subject: job.id })
      })
    }
  }

  const worker = startWorker({
    name: 'thumbnail worker',
    log: ctx.log,
    pollMs: options.pollMs,
    claim,
    run: makeThumbnail,
  })
  return { wake: worker.notify, stop: worker.stop }
}
