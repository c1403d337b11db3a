-- `delivery_queue`: what is still owed (pending, retrying or queued) with
-- its due time and lease, under the name the PostgreSQL store gives its
-- table of it, so statements that only read it are the same on both.
-- On PostgreSQL it is a table of its own, so that recording a result is a
-- HOT update of the delivery's row (see its migration 0008). SQLite
-- rewrites rows in place, and a second table would only add b-tree writes
-- to every delivery, so here it stays in the delivery's row, served by
-- the partial indexes on due and owed deliveries, and this is a view.
CREATE VIEW delivery_queue AS
SELECT id AS delivery_id, webhook_id, status, next_attempt_at, lease_owner, lease_until, created_at
FROM deliveries
WHERE status IN ('pending', 'retrying', 'queued');
