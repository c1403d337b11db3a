-- Admin console sessions: the cookie's token is stored as its SHA-256,
-- like API keys; `org_id` is the organisation the session is looking at
-- (the user's own, or one its MSP manages); `csrf` is the per-session
-- token every console form carries.
CREATE TABLE console_sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
