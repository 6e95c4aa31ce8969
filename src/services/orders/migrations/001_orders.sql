-- The event store: every order is a stream of events, numbered from 1 without gaps. The primary
-- key is the optimistic-concurrency check: two writers appending the same version → one fails.
create table events (
  stream_id text not null,
  version integer not null check (version >= 1),
  type text not null,
  data jsonb not null,
  recorded_at timestamptz not null default clock_timestamp(),
  -- Global order of appends, for replaying every stream (projection rebuilds).
  position bigserial not null,
  primary key (stream_id, version)
);
create index events_by_position on events (position);

-- The aggregate's state at a version, so loading reads the snapshot and the events after it.
create table snapshots (
  stream_id text primary key,
  version integer not null,
  state jsonb not null,
  taken_at timestamptz not null default now()
);

-- The read model (CQRS): one row per order, a projection of its stream; rebuilt from the events.
create table order_views (
  id text primary key,
  tenant_id text not null,
  user_id text not null,
  status text not null check (status in ('PENDING', 'CONFIRMED', 'CANCELLED')),
  items jsonb not null,
  total_minor bigint not null,
  currency char(3) not null,
  reason text,
  detail text,
  payment_id text,
  refunded boolean not null,
  version integer not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index order_views_by_tenant on order_views (tenant_id, created_at desc, id desc);
create index order_views_by_user on order_views (tenant_id, user_id, created_at desc, id desc);

-- The checkout saga of each order: where it is, when it runs next, and who holds it. The facts
-- (stock reserved, payment authorized, ...) are the order's events; this row is the schedule.
create table sagas (
  order_id text primary key,
  phase text not null check (phase in ('forward', 'compensate', 'done')),
  -- The furthest step ever started: a call that may have taken effect even if its answer was lost.
  reached integer not null default 0,
  reason text,
  detail text,
  payment_token text not null,
  attempts integer not null default 0,
  due_at timestamptz not null default now(),
  deadline_at timestamptz not null,
  lease_owner text,
  lease_until timestamptz,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index sagas_due on sagas (due_at) where phase <> 'done';

-- Idempotency keys of POST /api/orders (IETF draft): per caller, the request's fingerprint and,
-- once answered, the answer to replay.
create table idempotency_keys (
  tenant_id text not null,
  user_id text not null,
  key text not null,
  fingerprint text not null,
  status text not null check (status in ('in_flight', 'done')),
  order_id text,
  response_status integer,
  response_body text,
  location text,
  locked_until timestamptz not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (tenant_id, user_id, key)
);
create index idempotency_keys_expiry on idempotency_keys (expires_at);
