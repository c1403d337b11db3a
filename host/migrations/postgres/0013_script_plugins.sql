-- Script plugins: a plugin version written in JavaScript keeps its source
-- (its `wasm` column holds the same text, so size and sha256 describe what
-- the admin saved); the script engine runs it. The engine's compiled
-- artifact is kept by the hash of the engine, so a restart deserialises it
-- instead of compiling it again.
ALTER TABLE plugins ADD COLUMN source TEXT COLLATE "C";
CREATE TABLE script_engines (
    sha256      TEXT COLLATE "C" PRIMARY KEY,
    artifact    BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
