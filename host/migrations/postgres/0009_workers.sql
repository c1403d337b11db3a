-- The processes working on this database, and the host each runs on.
-- Processes on one host share its budget of attempts in flight
-- (`SCAIHUB_MAX_IN_FLIGHT`): each marks itself seen every few seconds,
-- counts the live ones on its host, and takes its share. A stopping
-- process deletes its row; a dead one's row ages out.
CREATE TABLE workers (
    owner    TEXT COLLATE "C" PRIMARY KEY,
    host     TEXT COLLATE "C" NOT NULL,
    seen_at  BIGINT NOT NULL
);
