-- One payment per order. A row is claimed ('pending') before the provider is asked, so concurrent
-- or repeated authorizations of an order find it instead of charging twice. A void that arrives
-- before any authorization leaves a 'voided' row without details (a tombstone): a late authorize
-- finds it, fills in the details and holds nothing.
create table payments (
  id text primary key,
  order_id text not null unique,
  user_id text,
  tenant_id text,
  status text not null check (status in ('pending', 'authorized', 'declined', 'captured', 'voided', 'refunded', 'partially_refunded')),
  amount_minor bigint check (amount_minor >= 0),
  captured_minor bigint not null default 0 check (captured_minor >= 0),
  refunded_minor bigint not null default 0 check (refunded_minor >= 0 and refunded_minor <= captured_minor),
  currency char(3),
  decline_reason text,
  -- The provider's id of the authorization, once it answered.
  provider_ref text,
  -- Until when the process that claimed the authorization is driving it; after that another may take over.
  lease_until timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (status = 'pending' or status = 'voided' or user_id is not null)
);
create index payments_by_user on payments (tenant_id, user_id, created_at desc, id desc);
create index payments_by_tenant on payments (tenant_id, created_at desc, id desc);

-- Every keyed action (authorize, capture, void, refund): the key is claimed first, and the outcome
-- (the payment as answered, or an error code) is stored once the operation is done, so a repeated
-- key replays it. A 'pending' refund counts against what is left to refund.
create table payment_operations (
  key text primary key,
  kind text not null check (kind in ('authorize', 'capture', 'void', 'refund')),
  payment_id text not null references payments (id),
  status text not null check (status in ('pending', 'done', 'failed')),
  amount_minor bigint not null default 0 check (amount_minor >= 0),
  response jsonb,
  error text,
  -- What the request asked, for keys that come from outside (Idempotency-Key): reuse with another request is refused.
  fingerprint text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index payment_operations_pending on payment_operations (payment_id) where status = 'pending';
