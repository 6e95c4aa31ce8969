-- Platform tables in every service schema.

-- Events written in the same transaction as the change that caused them; the bus relay
-- moves them out. `seq` keeps publication order.
create table mosaic_outbox (
  seq bigserial primary key,
  id uuid not null unique,
  type text not null,
  event jsonb not null,
  created_at timestamptz not null default now()
);

-- One row per (subscription, event) handled, written in the same transaction as the
-- handler's effect: a redelivered event finds its row and has no second effect.
create table mosaic_inbox (
  subscription text not null,
  event_id text not null,
  handled_at timestamptz not null default now(),
  primary key (subscription, event_id)
);

-- Deliveries that failed every attempt, with the last error; `mosaic events replay` sends them again.
create table mosaic_dead_letters (
  id bigserial primary key,
  subscription text not null,
  event jsonb not null,
  attempts int not null,
  error text not null,
  failed_at timestamptz not null default now()
);
