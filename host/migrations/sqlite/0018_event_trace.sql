-- The W3C trace context an event's deliveries continue (`traceparent`
-- text): the ingest request's span when traces are exported, else the
-- producer's own, else none.
ALTER TABLE events ADD COLUMN trace_parent TEXT;
