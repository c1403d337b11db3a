-- Plugin versions compile off the request: a new version is `compiling`
-- until the process's compile queue turns it `ready` (its artifact stored)
-- or `failed` (`status_reason` says why). Versions uploaded before this
-- were compiled before they were stored, so they are `ready`.
-- `compile_owner`/`compile_until` are the claim of the process compiling
-- it: another process (or a restart) compiles it only once the claim has
-- run out, so no version is compiled by two processes at once.
ALTER TABLE plugins ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE plugins ADD COLUMN status_reason TEXT;
ALTER TABLE plugins ADD COLUMN compile_owner TEXT;
ALTER TABLE plugins ADD COLUMN compile_until INTEGER;
CREATE INDEX plugins_compiling ON plugins(id) WHERE status = 'compiling';
