-- Who may read a file: `private` (its owner and staff) or `public` (anyone, signed in or not: product
-- images). Existing files stay private; only staff make a file public.
alter table files add column visibility text not null default 'private' check (visibility in ('private', 'public'));
