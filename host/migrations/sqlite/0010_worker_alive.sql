-- Kept in step with PostgreSQL's schema: when each process last marked
-- itself alive, by the database's clock. On SQLite one process owns the
-- file, so nothing judges death by it; a restart releases every lease.
ALTER TABLE workers ADD COLUMN alive_at BIGINT;
