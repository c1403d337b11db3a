-- Attempts move into their delivery's row: `attempt_log` is a JSON array,
-- oldest first, of `[attempted_at, status_code, duration_ms, error,
-- response_snippet]`. Recording a result is then one row write (the new
-- state and the attempt together) instead of an update and an insert into
-- a second table with two indexes and a sequence; the attempts of a
-- delivery are few (the retry schedule bounds them) and are only ever read
-- with it.
ALTER TABLE deliveries ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';

UPDATE deliveries SET attempt_log = (
    SELECT json_agg(json_build_array(a.attempted_at, a.status_code, a.duration_ms, a.error, a.response_snippet) ORDER BY a.id)::text
    FROM attempts a WHERE a.delivery_id = deliveries.id
)
WHERE id IN (SELECT delivery_id FROM attempts);

DROP TABLE attempts;
