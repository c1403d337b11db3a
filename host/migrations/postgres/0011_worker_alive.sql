-- When each process last marked itself alive, by the database's own clock
-- (milliseconds since the epoch). `seen_at` is the process's clock, used to
-- count the processes sharing a host; `alive_at` is what the others judge
-- death by, so that every process compares against one clock, whatever
-- its own says. A process not alive for a few beats is dead: the others
-- release its leases at once instead of waiting for them to end.
ALTER TABLE workers ADD COLUMN alive_at BIGINT;
