-- The simulated payment provider's own ledger. It stands for the far side of the network: the
-- payments code never reads these tables, only the simulator (provider.ts) does. They live in
-- the database so that the simulator, like a real provider, remembers across our crashes what it
-- authorized, captured and refunded and which keys it has answered. With a real provider plugged
-- in they stay empty.

-- One row per authorization key (the payment id): its attempts (tok_flaky fails the first), the
-- outcome once answered (repeats get it back), and the money it holds, captured and refunded.
create table simulated_provider_authorizations (
  key text primary key,
  attempts integer not null default 0,
  outcome text check (outcome in ('authorized', 'declined')),
  reference text unique,
  decline_reason text check (decline_reason in ('card_declined', 'insufficient_funds')),
  held boolean not null default false,
  captured_minor bigint not null default 0 check (captured_minor >= 0),
  refunded_minor bigint not null default 0 check (refunded_minor >= 0 and refunded_minor <= captured_minor),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((outcome = 'authorized') = (reference is not null)),
  check ((outcome = 'declined') = (decline_reason is not null))
);

-- Every capture, void and refund key the simulator has carried out: a repeated key is answered
-- without acting again. A refused call leaves no row (its transaction rolls back).
create table simulated_provider_requests (
  key text primary key,
  kind text not null check (kind in ('capture', 'void', 'refund')),
  authorization_key text not null,
  amount_minor bigint not null default 0 check (amount_minor >= 0),
  created_at timestamptz not null default now()
);
