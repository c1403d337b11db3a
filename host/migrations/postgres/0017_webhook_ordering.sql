-- A webhook's `ordering`: 'unordered' (each delivery goes when due) or
-- 'fifo' (one at a time, in event order; see `storage/lines.rs`).
ALTER TABLE webhooks ADD COLUMN ordering TEXT COLLATE "C" NOT NULL DEFAULT 'unordered';

-- A delivery's place in its webhook's FIFO line: its event's sequence
-- while the webhook is 'fifo', NULL otherwise. In a line only the front
-- has a due time; those behind it wait with `next_attempt_at` NULL, so
-- the claim's range on `delivery_queue_due` (NULLs sort last) never
-- reaches them. `line_seq` never changes while a row is owed (only a
-- switch of the webhook's ordering sets or clears it), so it costs the
-- claim and the recorder no index writes they did not make before:
-- unordered rows are in neither index below.
ALTER TABLE delivery_queue ADD COLUMN line_seq BIGINT;

-- The next in each line: owed line rows by place.
CREATE INDEX delivery_queue_line ON delivery_queue(webhook_id, line_seq)
    WHERE line_seq IS NOT NULL;
-- Whether a line has a front (a row being tried: due, leased or retrying).
CREATE INDEX delivery_queue_line_front ON delivery_queue(webhook_id)
    WHERE line_seq IS NOT NULL AND next_attempt_at IS NOT NULL AND status IN ('pending', 'retrying');
