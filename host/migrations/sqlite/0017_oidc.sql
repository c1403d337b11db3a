-- An organisation's own OpenID Connect provider for signing in: the
-- client secret is sealed under the master key (bound to the org id);
-- `allowed_domains` is a JSON array of lower-case email domains.
CREATE TABLE org_oidc (
    org_id          TEXT PRIMARY KEY REFERENCES orgs(id),
    display_name    TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    client_secret   BLOB NOT NULL,
    allowed_domains TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- Which organisation's provider an email domain signs in through: one
-- organisation per domain, as an email address is one user's.
CREATE TABLE oidc_domains (
    domain  TEXT PRIMARY KEY,
    org_id  TEXT NOT NULL REFERENCES orgs(id)
);
CREATE INDEX oidc_domains_org ON oidc_domains(org_id);
-- Sign-ins under way at a provider, by the SHA-256 of their `state`:
-- bound to the browser that began them (`browser_hash`, the SHA-256 of a
-- cookie), spent once (`used_at`), short-lived. The PKCE verifier is
-- sealed; `authorize` is the /oauth/authorize query to return to, or
-- NULL for the console.
CREATE TABLE oidc_sign_ins (
    state_hash    BLOB PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id),
    browser_hash  BLOB NOT NULL,
    nonce         TEXT NOT NULL,
    verifier      BLOB NOT NULL,
    authorize     TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX oidc_sign_ins_expiry ON oidc_sign_ins(expires_at);
