-- Per-webhook send limits that every process of a cluster keeps
-- (`rate_limit`, `max_in_flight`). A webhook's gate row is locked by the
-- process taking a send, so two processes cannot both see room for the
-- last one: `tat` is when the next send may start (the rate's
-- theoretical arrival time), and `webhook_sends` holds one row per send
-- under way, leased until it must have ended, so a dead process's sends
-- stop counting when their lease runs out. SQLite has neither: one
-- process owns its database, and keeps the same limits in memory.
CREATE TABLE webhook_gates (
    org_id      TEXT COLLATE "C" NOT NULL,
    webhook_id  TEXT COLLATE "C" NOT NULL,
    tat         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, webhook_id)
);

CREATE TABLE webhook_sends (
    webhook_id   TEXT COLLATE "C" NOT NULL,
    org_id       TEXT COLLATE "C" NOT NULL,
    delivery_id  TEXT COLLATE "C" NOT NULL,
    owner        TEXT COLLATE "C" NOT NULL,
    lease_until  BIGINT NOT NULL,
    PRIMARY KEY (org_id, webhook_id, delivery_id)
);
