-- The embedded bus: one row per (subscription, event) still to be handled. Rows are
-- created from a producer's outbox in the same transaction that empties it, and deleted
-- once the consumer has committed its effect, so a crash at any point redelivers.
create table deliveries (
  id bigserial primary key,
  subscription text not null,
  consumer text not null,
  event jsonb not null,
  attempts int not null default 0,
  next_at timestamptz not null default now(),
  last_error text
);
create index deliveries_due on deliveries (next_at, id);
