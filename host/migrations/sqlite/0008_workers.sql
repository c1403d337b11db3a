-- The processes working on this database, and the host each runs on (see
-- PostgreSQL's migration 0009: processes on one host share its budget of
-- attempts in flight). On SQLite one process owns the file, so the table
-- holds at most that one; it exists so both stores answer the same calls.
CREATE TABLE workers (
    owner    TEXT PRIMARY KEY,
    host     TEXT NOT NULL,
    seen_at  INTEGER NOT NULL
);
