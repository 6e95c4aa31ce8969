// The files table: metadata rows, written only once the bytes are stored and checked.
import {
  MosaicError,
  newestFirst,
  type Sql,
  type Static,
  type ServiceTx,
  type RouteContext,
  requireIdentity,
} from '../../kit/index.ts'
import type { FileMeta, FilesContract, Visibility } from './contract.ts'

export type FileOut = Static<typeof FileMeta>
export type VisibilityValue = Static<typeof Visibility>

export interface FileRow {
  id: string
  tenant_id: string
  owner_id: string
  filename: string
  content_type: string
  size: bigint | number
  sha256: string
  thumbnail: 'pending' | 'working' | 'ready' | 'failed' | 'none'
  thumbnail_id: string | null
  thumbnail_size: bigint | number | null
  thumbnail_sha256: string | null
  attempts: number
  visibility: VisibilityValue
  created_at: Date
}

export const columns =
  'id, tenant_id, owner_id, filename, content_type, size, sha256, thumbnail, thumbnail_id, thumbnail_size, thumbnail_sha256, attempts, visibility, created_at'

export function toFile(row: FileRow): FileOut {
  return {
    id: row.id,
    filename: row.filename,
    contentType: row.content_type,
    size: Number(row.size),
    sha256: row.sha256,
    ownerId: row.owner_id,
    // `working` is an implementation detail of the job loop: to a client it is still pending.
    thumbnail: row.thumbnail === 'working' ? 'pending' : row.thumbnail,
    visibility: row.visibility,
    createdAt: row.created_at.toISOString(),
  }
}

export function notFound(id: string): MosaicError {
  return new MosaicError('not_found', { detail: `file ${id} does not exist` })
}

export async function findFile(db: Sql, id: string): Promise<FileRow> {
  const [row] = await db.query<FileRow>(`select ${columns} from files where id = $1`, [id])
  if (!row) throw notFound(id)
  return row
}

const asResource = (row: FileRow) => ({ type: 'File', id: row.id, ownerId: row.owner_id, tenantId: row.tenant_id })

/**
 * The file if the caller may read it (policies/files.cedar: public, own, or staff's); 404 otherwise,
 * as if absent, so a private file's existence is not revealed. Anonymous callers cannot be Cedar
 * principals (the kit's authorize never permits them), so the policy `files.public` is applied to
 * them here: a public file, else 404 (not 401: that would confirm the id exists).
 */
export async function findReadable(ctx: RouteContext, id: string): Promise<FileRow> {
  const row = await findFile(ctx.db, id)
  const allowed = ctx.identity
    ? ctx.authorize(ctx.identity, 'files:read', asResource(row), { visibility: row.visibility })
    : row.visibility === 'public'
  if (!allowed) throw notFound(id)
  return row
}

/**
 * The file if the caller may do `action` to it. Its owner, refused (publishing their own file), gets
 * 403; anyone else gets 404 as if it were absent, even for a public file: "not yours" stays uniform.
 */
export async function findAllowed(
  ctx: RouteContext,
  id: string,
  action: 'files:delete' | 'files:setVisibility',
): Promise<FileRow> {
  const identity = requireIdentity(ctx)
  const row = await findFile(ctx.db, id)
  if (ctx.authorize(identity, action, asResource(row))) return row
  // Asked as if it were private: whether the file is theirs to see at all, public or not.
  if (ctx.authorize(identity, 'files:read', asResource(row), { visibility: 'private' })) {
    throw new MosaicError('forbidden', {
      detail:
        action === 'files:setVisibility' ? 'only staff change who may read a file' : 'you may not delete this file',
    })
  }
  throw notFound(id)
}

export interface NewFile {
  id: string
  tenantId: string
  ownerId: string
  filename: string
  contentType: string
  size: number
  sha256: string
  visibility: VisibilityValue
}

export async function insertFile(tx: ServiceTx<FilesContract>, file: NewFile): Promise<FileOut> {
  const thumbnail = file.contentType.startsWith('image/') ? 'pending' : 'none'
  const [row] = await tx.query<FileRow>(
    `insert into files (id, tenant_id, owner_id, filename, content_type, size, sha256, thumbnail, visibility)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning ${columns}`,
    [
      file.id,
      file.tenantId,
      file.ownerId,
      file.filename,
      file.contentType,
      file.size,
      file.sha256,
      thumbnail,
      file.visibility,
    ],
  )
  await tx.publish(
    'file.uploaded',
    {
      id: file.id,
      ownerId: file.ownerId,
      tenantId: file.tenantId,
      contentType: file.contentType,
      size: file.size,
      sha256: file.sha256,
      visibility: file.visibility,
    },
    { subject: file.id },
  )
  return toFile(row!)
}

/** Sets who may read the file; an event only when it changed (a repeated PATCH is a no-op). */
export async function setVisibility(
  tx: ServiceTx<FilesContract>,
  id: string,
  visibility: VisibilityValue,
): Promise<FileOut> {
  const [row] = await tx.query<FileRow>(
    `update files set visibility = $2 where id = $1 and visibility <> $2 returning ${columns}`,
    [id, visibility],
  )
  if (!row) return toFile(await findFile(tx, id))
  await tx.publish(
    'file.visibility_changed',
    { id, ownerId: row.owner_id, tenantId: row.tenant_id, visibility },
    { subject: id },
  )
  return toFile(row)
}

/** Deletes the row (the caller removes the bytes after the commit); returns the stored ids to remove. */
export async function deleteFile(tx: ServiceTx<FilesContract>, id: string): Promise<string[]> {
  const [row] = await tx.query<FileRow>(`delete from files where id = $1 returning ${columns}`, [id])
  if (!row) throw notFound(id)
  await tx.publish('file.deleted', { id, ownerId: row.owner_id, tenantId: row.tenant_id }, { subject: id })
  return [row.id, ...(row.thumbnail_id ? [row.thumbnail_id] : [])]
}

/** The caller's own files, newest first. */
export function listFiles(
  db: Sql,
  tenantId: string,
  ownerId: string,
  limit: number,
  cursor?: string,
): Promise<{ items: FileOut[]; nextCursor: string | null }> {
  return newestFirst(
    db,
    {
      table: 'files',
      columns,
      time: 'created_at',
      where: 'tenant_id = $1 and owner_id = $2',
      params: [tenantId, ownerId],
      limit,
      cursor,
    },
    toFile,
  )
}

/** Of these stored ids, the ones a row still refers to (as a file or a thumbnail). */
export async function knownIds(db: Sql, ids: string[]): Promise<Set<string>> {
  const rows = await db.query<{ id: string }>(
    'select id from files where id = any($1::text[]) union select thumbnail_id from files where thumbnail_id = any($1::text[])',
    [ids],
  )
  return new Set(rows.map((r) => r.id))
}
