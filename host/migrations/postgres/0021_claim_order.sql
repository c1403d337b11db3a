-- A claim takes the oldest due deliveries in (due time, id) order, LIMIT
-- a batch. With the due index on the due time alone PostgreSQL could not
-- read that order from it: it fetched every due row and sorted them all
-- to keep a batch, so each claim cost the whole backlog (20 ms at 24,000
-- owed, and more with every delivery waiting past the in-memory lane).
-- Keyed on both, a claim reads the index in order and stops at its batch.
DROP INDEX delivery_queue_due;
CREATE INDEX delivery_queue_due ON delivery_queue(next_attempt_at, delivery_id)
    WHERE status IN ('pending', 'retrying');
