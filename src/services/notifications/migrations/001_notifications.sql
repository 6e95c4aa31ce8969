-- Who a notification goes to. Events carry a user id, not always an address: user.registered
-- fills this table, and the sender looks the address up when it sends (so an order event that
-- overtakes its user's registration still finds the address a moment later).
create table recipients (
  user_id text primary key,
  tenant_id text not null,
  email text not null,
  name text not null,
  updated_at timestamptz not null default now()
);

-- The kinds a user turned off (security notices cannot be: the service refuses it).
create table preferences (
  user_id text primary key,
  tenant_id text not null,
  disabled text[] not null default '{}',
  updated_at timestamptz not null default now()
);

-- One row per notification an event asked for. The event handler only inserts (in the inbox
-- transaction); the sender claims due rows, sends, and records the outcome.
create table notifications (
  id uuid primary key,
  tenant_id text not null,
  user_id text not null,
  kind text not null check (kind in ('welcome', 'receipt', 'cancellation', 'refund', 'security')),
  event_id text not null,
  event_type text not null,
  -- The order a receipt, cancellation or refund is about: a refund of a cancelled order is told
  -- in the cancellation notice (see the service's README section).
  order_id text,
  data jsonb not null,
  status text not null check (status in ('queued', 'sent', 'failed', 'skipped')),
  attempts integer not null default 0,
  next_attempt_at timestamptz,
  -- Set while a sender holds the row: another replica skips it until the lease runs out.
  lease_until timestamptz,
  last_error text,
  email text,
  subject text,
  text_body text,
  message_id text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  -- A redelivered event (or the same event seen by a second subscription) makes no second row.
  unique (event_id, kind)
);
create index notifications_due on notifications (next_attempt_at) where status = 'queued';
create index notifications_by_user on notifications (tenant_id, user_id, created_at desc, id desc);
create index notifications_by_order on notifications (tenant_id, order_id) where order_id is not null;

-- Mails "sent" with no SMTP server configured: kept here, shown to staff at
-- GET /api/notifications/mailbox. `raw` is the whole RFC 5322 message, as SMTP would carry it.
create table mailbox (
  notification_id uuid primary key references notifications (id),
  tenant_id text not null,
  recipient text not null,
  subject text not null,
  text_body text not null,
  html_body text not null,
  raw text not null,
  delivered_at timestamptz not null default now()
);
create index mailbox_by_tenant on mailbox (tenant_id, delivered_at desc);
