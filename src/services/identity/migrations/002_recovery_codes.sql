-- Recovery codes (issued when TOTP is confirmed): SHA-256 hashes only, each used at most once.
create table recovery_codes (
  user_id uuid not null references users (id) on delete cascade,
  code_hash text not null,
  used_at timestamptz,
  primary key (user_id, code_hash)
);
