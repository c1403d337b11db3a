-- Core schema: organisations, principals, events (the audit log), webhooks,
-- deliveries and their attempts. Times are milliseconds since the epoch;
-- JSON columns hold text.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   TEXT REFERENCES orgs(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX orgs_parent ON orgs(parent_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    key_hash    BYTEA NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id),
    event_id     TEXT NOT NULL,
    ts           BIGINT NOT NULL,
    category     TEXT NOT NULL,
    action       TEXT NOT NULL,
    user_id      TEXT,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    UNIQUE (org_id, event_id)
);
CREATE INDEX events_org_seq ON events(org_id, seq);

CREATE TABLE webhooks (
    id                       TEXT PRIMARY KEY,
    org_id                   TEXT NOT NULL REFERENCES orgs(id),
    name                     TEXT NOT NULL,
    url                      TEXT NOT NULL,
    settings                 TEXT NOT NULL,
    secret_enc               BYTEA NOT NULL,
    prev_secret_enc          BYTEA,
    prev_secret_expires_at   BIGINT,
    paused                   BOOLEAN NOT NULL DEFAULT FALSE,
    queue_limit              BIGINT NOT NULL,
    overflow_count           BIGINT NOT NULL DEFAULT 0,
    overflow_reported        BOOLEAN NOT NULL DEFAULT FALSE,
    version                  BIGINT NOT NULL DEFAULT 1,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX webhooks_org ON webhooks(org_id);

CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL,
    webhook_id        TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq         BIGINT NOT NULL REFERENCES events(seq),
    event_id          TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempt_count     BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    last_status_code  BIGINT,
    lease_owner       TEXT,
    lease_until       BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, created_at);
CREATE INDEX deliveries_queued ON deliveries(webhook_id, status) WHERE status = 'queued';

CREATE TABLE attempts (
    id                BIGSERIAL PRIMARY KEY,
    delivery_id       TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempted_at      BIGINT NOT NULL,
    status_code       BIGINT,
    duration_ms       BIGINT NOT NULL,
    error             TEXT,
    response_snippet  TEXT
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, id);
