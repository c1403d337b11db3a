-- A webhook's `ordering`: 'unordered' (each delivery goes when due) or
-- 'fifo' (one at a time, in event order; see `storage/lines.rs`).
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'unordered';

-- A delivery's place in its webhook's FIFO line: its event's sequence
-- while the webhook is 'fifo', NULL otherwise. In a line only the front
-- has a due time; those behind it wait with `next_attempt_at` NULL, so
-- the claim (on `deliveries_due`, which seeks past NULLs) never sees them.
ALTER TABLE deliveries ADD COLUMN line_seq INTEGER;

-- The next in each line: owed line rows by place. Unordered deliveries
-- (line_seq NULL) are not in it and cost it nothing.
CREATE INDEX deliveries_line ON deliveries(webhook_id, line_seq)
    WHERE line_seq IS NOT NULL AND status IN ('pending', 'retrying', 'queued');
-- Whether a line has a front (a row being tried: due, leased or retrying).
CREATE INDEX deliveries_line_front ON deliveries(webhook_id)
    WHERE line_seq IS NOT NULL AND next_attempt_at IS NOT NULL AND status IN ('pending', 'retrying');

DROP VIEW delivery_queue;
CREATE VIEW delivery_queue AS
SELECT id AS delivery_id, webhook_id, status, next_attempt_at, lease_owner, lease_until, created_at, line_seq
FROM deliveries
WHERE status IN ('pending', 'retrying', 'queued');
