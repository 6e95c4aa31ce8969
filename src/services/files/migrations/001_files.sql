-- One row per stored file. The bytes live in the storage backend under `id` (and the thumbnail's
-- under `thumbnail_id`); the row is written only after the bytes are complete and checked.
create table files (
  id text primary key,
  tenant_id text not null,
  owner_id text not null,
  filename text not null,
  content_type text not null,
  size bigint not null check (size >= 0),
  sha256 text not null,
  -- Thumbnail work: pending → working (claimed, with a lease) → ready | failed; `none` for non-images.
  thumbnail text not null check (thumbnail in ('pending', 'working', 'ready', 'failed', 'none')),
  thumbnail_id text,
  thumbnail_size bigint,
  thumbnail_sha256 text,
  attempts integer not null default 0,
  claimed_at timestamptz,
  created_at timestamptz not null default now()
);
create index files_by_owner on files (tenant_id, owner_id, created_at desc, id desc);
create index files_to_process on files (created_at) where thumbnail in ('pending', 'working');
