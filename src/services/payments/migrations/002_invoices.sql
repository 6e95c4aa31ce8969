-- Invoice numbers run per tenant without gaps: the next number is taken from a counter row in the
-- same transaction as the invoice (a sequence would skip the numbers of rolled-back transactions).
create table invoice_counters (
  tenant_id text primary key,
  last_number bigint not null
);

create table invoices (
  id text primary key,
  number text not null,
  tenant_id text not null,
  user_id text not null,
  -- One invoice per confirmed order.
  order_id text unique,
  subscription_id text,
  -- The Idempotency-Key of the request that closed a subscription's period, replayed on reuse.
  request_key text,
  period_start timestamptz,
  period_end timestamptz,
  currency char(3) not null,
  total_minor bigint not null check (total_minor >= 0),
  -- [{description, quantity, unitPriceMinor, amountMinor}] with the minor amounts as strings.
  lines jsonb not null,
  issued_at timestamptz not null default now(),
  unique (tenant_id, number),
  unique (subscription_id, request_key),
  check ((order_id is null) <> (subscription_id is null))
);
create index invoices_by_user on invoices (tenant_id, user_id, issued_at desc, id desc);
create index invoices_by_tenant on invoices (tenant_id, issued_at desc, id desc);
