-- Attempts move into their delivery's row: `attempt_log` is a JSON array,
-- oldest first, of `[attempted_at, status_code, duration_ms, error,
-- response_snippet]`. Recording a result is then one row write (the new
-- state and the attempt together) instead of an update and an insert into
-- a second table with its own index; the attempts of a delivery are few
-- (the retry schedule bounds them) and are only ever read with it.
ALTER TABLE deliveries ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';

UPDATE deliveries SET attempt_log = (
    SELECT json_group_array(json(e)) FROM (
        SELECT json_array(a.attempted_at, a.status_code, a.duration_ms, a.error, a.response_snippet) AS e
        FROM attempts a WHERE a.delivery_id = deliveries.id ORDER BY a.id
    )
)
WHERE id IN (SELECT delivery_id FROM attempts);

DROP TABLE attempts;
