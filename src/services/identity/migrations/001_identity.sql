-- Tenants partition users: every user belongs to exactly one, and emails are unique within it.
create table tenants (
  id text primary key check (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null,
  created_at timestamptz not null default now()
);
insert into tenants (id, name) values ('default', 'Default');

create table users (
  id uuid primary key default gen_random_uuid(),
  tenant_id text not null references tenants (id),
  email text not null,
  name text not null,
  password_hash text not null,
  roles text[] not null default '{customer}'
    check (cardinality(roles) > 0 and roles <@ array['customer', 'staff', 'admin']),
  -- TOTP: the confirmed secret, one awaiting confirmation, and the last time step used (replay guard).
  totp_secret text,
  totp_pending text,
  totp_last_step bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, email)
);
create index users_tenant_created on users (tenant_id, created_at, id);

-- A session is one sign-in: a browser cookie, or a family of rotating refresh tokens. Only
-- hashes of the secrets are kept, so a copy of this table signs nobody in.
create table sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  kind text not null check (kind in ('cookie', 'token')),
  secret_hash text unique,
  csrf_hash text,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index sessions_user on sessions (user_id);

create table refresh_tokens (
  token_hash text primary key,
  session_id uuid not null references sessions (id) on delete cascade,
  -- rotated: exchanged once already; presenting it again means it was stolen.
  status text not null default 'active' check (status in ('active', 'rotated')),
  created_at timestamptz not null default now()
);
create index refresh_tokens_session on refresh_tokens (session_id);

-- Access-token signing keys. A retired key stays published until every token it signed has expired.
create table signing_keys (
  kid text primary key,
  alg text not null,
  public_jwk jsonb not null,
  private_jwk jsonb not null,
  created_at timestamptz not null default now(),
  retired_at timestamptz
);

-- Failed sign-ins per account (tenant + email, whether or not it exists) and per client address.
create table login_failures (
  key text primary key,
  failures integer not null,
  locked_until timestamptz,
  updated_at timestamptz not null default now()
);
