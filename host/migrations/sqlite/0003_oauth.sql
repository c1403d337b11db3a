-- OAuth: applications (clients), their signing keys, authorization codes,
-- refresh tokens and revocations. Secrets and tokens are stored as hashes;
-- private signing keys sealed under the master key.
CREATE TABLE applications (
    id                       TEXT PRIMARY KEY,
    org_id                   TEXT NOT NULL REFERENCES orgs(id),
    name                     TEXT NOT NULL,
    description              TEXT NOT NULL,
    redirect_uris            TEXT NOT NULL,
    scopes                   TEXT NOT NULL,
    token_lifetime_secs      INTEGER NOT NULL,
    service_account_id       TEXT NOT NULL REFERENCES users(id),
    secret_hash              BLOB NOT NULL,
    prev_secret_hash         BLOB,
    prev_secret_expires_at   INTEGER,
    deleted_at               INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX applications_org ON applications(org_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_enc  BLOB NOT NULL,
    public_key   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER
);

CREATE TABLE oauth_codes (
    code_hash       BLOB PRIMARY KEY,
    app_id          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    family_id       TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);

CREATE TABLE refresh_tokens (
    token_hash   BLOB PRIMARY KEY,
    family_id    TEXT NOT NULL,
    app_id       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    org_id       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- Revoked access tokens (by jti) and token families (a code or refresh
-- chain), kept until the longest token they could cover has expired.
CREATE TABLE revocations (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE login_failures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    login        TEXT NOT NULL,
    ip_address   TEXT,
    failed_at    INTEGER NOT NULL
);
CREATE INDEX login_failures_login ON login_failures(login, failed_at);
