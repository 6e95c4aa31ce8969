-- Every event analytics has seen: the domain events it subscribes to and the clients' tracking
-- events (source 'client'). Append-only: the aggregates below are sums over these rows, and a
-- recomputation from them must give the same figures.
create table events (
  id text primary key,            -- the event id: a redelivery finds its row and changes nothing
  source text not null,           -- producing service, or 'client'
  type text not null,
  time timestamptz not null,      -- when it happened (the event's own time): aggregates are keyed by it
  subject text,
  tenant_id text,
  user_id text,
  visitor_id text,
  data jsonb not null,
  received_at timestamptz not null default now()
);
create index events_by_type_time on events (type, time);

create function events_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'analytics.events is append-only';
end
$$;
create trigger events_append_only before update or delete on events
  for each statement execute function events_append_only();

-- The aggregates are commutative sums keyed by (tenant, UTC day of the event's time, ...), so the
-- order in which events arrive does not change them.
create table sales_daily (
  tenant_id text not null,
  day date not null,
  currency char(3) not null,
  orders_placed bigint not null default 0,
  orders_confirmed bigint not null default 0,
  revenue_minor bigint not null default 0,   -- totals of confirmed orders
  refunds_minor bigint not null default 0,   -- payment.refunded amounts
  primary key (tenant_id, day, currency)
);

create table product_sales_daily (
  tenant_id text not null,
  day date not null,
  product_id text not null,
  currency char(3) not null,
  quantity bigint not null,
  revenue_minor bigint not null,
  -- The product's name as of the latest event (by its time, then id): the same whatever the arrival order.
  name text not null,
  name_time timestamptz not null,
  name_event text not null,
  primary key (tenant_id, day, product_id, currency)
);

-- Who reached each step of the funnel on each day, and how often: distinct actors over any range
-- are counted from these rows at report time (distinct counts cannot be summed over days).
create table funnel_daily (
  tenant_id text not null,
  day date not null,
  stage text not null check (stage in ('product_viewed', 'order_placed', 'order_confirmed')),
  actor text not null,            -- 'user:<id>' or 'visitor:<id>'
  events bigint not null,
  primary key (tenant_id, day, stage, actor)
);

create table failed_logins_daily (
  tenant_id text not null,
  day date not null,
  failures bigint not null,
  primary key (tenant_id, day)
);
