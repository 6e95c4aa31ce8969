-- The trace context of the request that placed the order: every step of its saga continues that
-- trace, in whichever process and after whatever restart the runner picks it up.
alter table sagas add column trace_context jsonb;
