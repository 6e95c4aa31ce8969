// The files service: uploads streamed to a storage backend, checked downloads, thumbnails.
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  Type,
  Env,
  MosaicError,
  defineService,
  requireIdentity,
  type ServiceContext,
  type RouteContext,
} from '../../kit/index.ts'
import { filesContract, THUMBNAIL_TYPE, type FilesContract } from './contract.ts'
import { localDisk, type LocalDisk } from './storage.ts'
import { receiveFile } from './upload.ts'
import { sendBlob, cacheControl } from './download.ts'
import {
  findAllowed,
  findReadable,
  findFile,
  insertFile,
  deleteFile,
  setVisibility,
  listFiles,
  knownIds,
  toFile,
  type FileRow,
} from './records.ts'
import { startThumbnails, type ThumbnailWorker } from './thumbnails.ts'

/** Leftovers younger than this may belong to an upload in progress (on any replica); older ones are swept at start. */
const SWEEP_AFTER_MS = 60 * 60 * 1000

const Config = Type.Object({
  STORAGE_PATH: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Directory of stored files (default: `<DATA_DIR>/files`; with `DATA_DIR=:memory:` a temporary directory, removed at stop)',
    }),
  ),
  // The runtime's variable, read here for the default above; ":memory:" gets a temporary directory.
  DATA_DIR: Type.String({ default: '.mosaic' }),
  FILE_MAX_BYTES: Env.positive(
    10 * 1024 * 1024,
    'Largest file, bytes (counted on the bytes, not on Content-Length); larger → 413, nothing kept',
  ),
  FILES_THUMBNAIL_SIZE: Type.Integer({
    minimum: 16,
    maximum: 2048,
    default: 256,
    description: 'Longest side of a thumbnail, pixels',
  }),
  FILES_PROCESS_POLL_MS: Env.positive(
    1000,
    'How often the thumbnail loop looks for work (an upload in the same process also wakes it)',
  ),
  FILES_PROCESSING: Env.flag(
    true,
    'Run the thumbnail loop in this process (`false`: leave the work to other replicas)',
  ),
  // An hour: long enough to spare the service a product image per page view, short enough that a file
  // made private again drops out of shared caches the same day.
  FILES_PUBLIC_MAX_AGE: Type.Integer({
    minimum: 0,
    maximum: 31_536_000,
    default: 3600,
    description: 'Cache-Control max-age of public files, seconds',
  }),
})

/** What a running instance holds besides its context. */
interface Runtime {
  readonly storage: LocalDisk
  readonly thumbnails?: ThumbnailWorker
  /** A temporary directory to remove at stop (DATA_DIR=:memory: keeps nothing). */
  readonly temporary: boolean
}

async function storageRoot(
  ctx: ServiceContext<FilesContract, { STORAGE_PATH?: string; DATA_DIR: string }>,
): Promise<{ root: string; temporary: boolean }> {
  if (ctx.config.STORAGE_PATH) return { root: resolve(ctx.config.STORAGE_PATH), temporary: false }
  if (ctx.config.DATA_DIR !== ':memory:') return { root: resolve(ctx.config.DATA_DIR, 'files'), temporary: false }
  const root = await mkdtemp(join(tmpdir(), 'mosaic-files-'))
  ctx.log.warn({ storage: root }, 'DATA_DIR is :memory: — files are kept in a temporary directory, removed at stop')
  return { root, temporary: true }
}

/** Asked before a byte is read: a refused upload costs nothing. A public upload is asked as publishing the new file. */
const mayUpload = (ctx: RouteContext, id: string, visibility: 'public' | 'private'): void => {
  const identity = requireIdentity(ctx)
  if (!ctx.authorize(identity, 'files:upload', { type: 'Tenant', id: identity.tenantId }))
    throw new MosaicError('forbidden', { detail: 'you may not upload files' })
  if (
    visibility === 'public' &&
    !ctx.authorize(identity, 'files:setVisibility', {
      type: 'File',
      id,
      ownerId: identity.userId,
      tenantId: identity.tenantId,
    })
  ) {
    throw new MosaicError('forbidden', { detail: 'only staff upload public files' })
  }
}

const caching = (ctx: { config: { FILES_PUBLIC_MAX_AGE: number } }, row: FileRow): string =>
  cacheControl(row.visibility, ctx.config.FILES_PUBLIC_MAX_AGE)

export default defineService(filesContract, {
  migrations: new URL('./migrations/', import.meta.url),
  config: Config,

  async start(ctx): Promise<Runtime> {
    const { root, temporary } = await storageRoot(ctx)
    const storage = await localDisk(root)
    const swept = await storage.sweep((ids) => knownIds(ctx.db, ids), SWEEP_AFTER_MS)
    if (swept > 0) ctx.log.info({ swept }, 'removed leftover bytes of unfinished uploads and deleted files')
    const thumbnails = ctx.config.FILES_PROCESSING
      ? startThumbnails(ctx, storage, {
          size: ctx.config.FILES_THUMBNAIL_SIZE,
          pollMs: ctx.config.FILES_PROCESS_POLL_MS,
          maxAttempts: 3,
          leaseMs: 60_000,
        })
      : undefined
    return { storage, temporary, ...(thumbnails ? { thumbnails } : {}) }
  },

  async stop(ctx) {
    const { thumbnails, temporary, storage } = ctx.state
    await thumbnails?.stop()
    if (temporary) await rm(storage.root, { recursive: true, force: true })
  },

  routes: {
    async uploadFile({ body, headers, query }, ctx) {
      const id = randomUUID()
      const visibility = query.visibility ?? 'private'
      mayUpload(ctx, id, visibility)
      const identity = requireIdentity(ctx)
      const { storage, thumbnails } = ctx.state
      const received = await receiveFile(body, headers, id, storage, ctx.config.FILE_MAX_BYTES, ctx.signal).catch(
        (error: unknown) => {
          // The rest of a refused body is not worth reading: the connection goes with the answer.
          ctx.setHeader('connection', 'close')
          throw error
        },
      )
      const file = await ctx.db
        .transaction((tx) =>
          insertFile(tx, { id, tenantId: identity.tenantId, ownerId: identity.userId, visibility, ...received }),
        )
        .catch(async (error: unknown) => {
          await storage.delete(id)
          throw error
        })
      thumbnails?.wake()
      ctx.setHeader('location', `/api/files/${id}`)
      return file
    },
    listFiles({ query }, ctx) {
      const identity = requireIdentity(ctx)
      return listFiles(ctx.db, identity.tenantId, identity.userId, query.limit, query.cursor)
    },
    async downloadFile({ params, headers }, ctx) {
      const row = await findReadable(ctx, params.id)
      return sendBlob(
        ctx,
        headers,
        {
          id: row.id,
          sha256: row.sha256,
          size: Number(row.size),
          contentType: row.content_type,
          filename: row.filename,
        },
        ctx.state.storage,
        caching(ctx, row),
      )
    },
    async getThumbnail({ params, headers }, ctx) {
      const row = await findReadable(ctx, params.id)
      if (row.thumbnail === 'pending' || row.thumbnail === 'working') {
        throw new MosaicError('thumbnail_not_ready', {
          detail: `the thumbnail of ${row.id} is being made`,
          retryAfter: 1,
        })
      }
      if (row.thumbnail !== 'ready' || !row.thumbnail_id || !row.thumbnail_sha256) {
        throw new MosaicError('not_found', {
          detail: `file ${row.id} has no thumbnail (${row.thumbnail === 'failed' ? 'the image could not be processed' : 'not an image'})`,
        })
      }
      const filename = `${row.filename.replace(/\.[^.]*$/, '')}-thumbnail.webp`
      return sendBlob(
        ctx,
        headers,
        {
          id: row.thumbnail_id,
          sha256: row.thumbnail_sha256,
          size: Number(row.thumbnail_size),
          contentType: THUMBNAIL_TYPE,
          filename,
        },
        ctx.state.storage,
        caching(ctx, row),
      )
    },
    async setVisibility({ params, body }, ctx) {
      await findAllowed(ctx, params.id, 'files:setVisibility')
      return ctx.db.transaction((tx) => setVisibility(tx, params.id, body.visibility))
    },
    async deleteFile({ params }, ctx) {
      await findAllowed(ctx, params.id, 'files:delete')
      const stored = await ctx.db.transaction((tx) => deleteFile(tx, params.id))
      // After the commit: if this fails, the start-up sweep removes the bytes no row refers to.
      const { storage } = ctx.state
      await Promise.all(stored.map((id) => storage.delete(id)))
      return null
    },
  },

  actions: {
    getFile: async ({ id }, ctx) => toFile(await findFile(ctx.db, id)),
  },
})
