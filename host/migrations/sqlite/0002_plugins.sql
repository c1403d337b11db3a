-- Plugin versions: the uploaded component, its compiled artifact (only
-- ever produced by this host), and what identifies it. Versions are
-- immutable; a new upload under the same name is the next version.
CREATE TABLE plugins (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    wasm        BLOB NOT NULL,
    artifact    BLOB NOT NULL,
    created_by  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name, version)
);
CREATE INDEX plugins_org ON plugins(org_id, name, version);
