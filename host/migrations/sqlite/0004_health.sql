-- Per-webhook health for operators, and the indexes retention pruning needs.
--
-- Health is kept on the webhook row (last outcome, failure streak) and in
-- hourly buckets (attempt counts for the success rate over the last day);
-- the delivery recorder updates both once per batch, grouped by webhook.
ALTER TABLE webhooks ADD COLUMN last_success_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_failure_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_error TEXT;
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;

CREATE TABLE webhook_hours (
    webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    hour        INTEGER NOT NULL,
    successes   INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, hour)
);
CREATE INDEX webhook_hours_hour ON webhook_hours(hour);

-- Queue depth per webhook without reading its finished deliveries.
CREATE INDEX deliveries_owed ON deliveries(webhook_id, status) WHERE status IN ('pending', 'retrying', 'queued');
-- Retention: whether an event is still referenced (also what the foreign
-- key check reads when an event is deleted), and events by age.
CREATE INDEX deliveries_event ON deliveries(event_seq);
CREATE INDEX events_received ON events(received_at);
