create table products (
  id text primary key,
  name text not null,
  description text not null default '',
  price_minor bigint not null check (price_minor >= 0),
  currency char(3) not null,
  category text,
  stock integer not null check (stock >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  search tsvector generated always as (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', coalesce(category, '')), 'B') ||
    setweight(to_tsvector('english', description), 'C')
  ) stored
);
create index products_by_name on products (name, id);
create index products_by_price on products (price_minor, id);
create index products_by_created on products (created_at, id);
create index products_by_category on products (category, name, id);
create index products_search on products using gin (search);

-- Stock held for an order. The order id is the idempotency key of every inventory action.
create table reservations (
  order_id text primary key,
  status text not null check (status in ('reserved', 'released', 'committed')),
  items jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table seeds (
  name text primary key,
  applied_at timestamptz not null default now()
);
