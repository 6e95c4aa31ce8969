-- A small fixed price list: a monthly fee that includes some units of usage, and a price per unit beyond.
create table plans (
  id text primary key,
  name text not null,
  currency char(3) not null,
  fee_minor bigint not null check (fee_minor >= 0),
  included_units bigint not null check (included_units >= 0),
  unit_price_minor bigint not null check (unit_price_minor >= 0)
);
insert into plans (id, name, currency, fee_minor, included_units, unit_price_minor) values
  ('basic', 'Basic', 'USD', 900, 1000, 2),
  ('pro', 'Pro', 'USD', 4900, 20000, 1);

create table subscriptions (
  id text primary key,
  tenant_id text not null,
  user_id text not null,
  plan_id text not null references plans (id),
  status text not null default 'active' check (status in ('active')),
  -- Start of the period not yet invoiced; closing the period moves it to the close.
  period_start timestamptz not null default now(),
  created_at timestamptz not null default now()
);
create index subscriptions_by_user on subscriptions (tenant_id, user_id);

create table usage_records (
  id text primary key,
  subscription_id text not null references subscriptions (id),
  quantity bigint not null check (quantity > 0),
  recorded_at timestamptz not null,
  -- The client's Idempotency-Key or clientId: the same one twice records once.
  dedupe_key text,
  invoice_id text references invoices (id),
  created_at timestamptz not null default now(),
  unique (subscription_id, dedupe_key)
);
create index usage_unbilled on usage_records (subscription_id) where invoice_id is null;
