-- Each plugin name of an organisation, its kind and the last version number
-- ever given to it. Versions are immutable: deleting the latest version must
-- not let the next upload take its number, so the count lives here rather
-- than in MAX(version) of the rows that are left. A name keeps its kind.
CREATE TABLE plugin_names (
    org_id        TEXT NOT NULL REFERENCES orgs(id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    last_version  BIGINT NOT NULL,
    PRIMARY KEY (org_id, name)
);
INSERT INTO plugin_names (org_id, name, kind, last_version)
SELECT p.org_id, p.name,
       (SELECT q.kind FROM plugins q
         WHERE q.org_id = p.org_id AND q.name = p.name
         ORDER BY q.version DESC LIMIT 1),
       MAX(p.version)
  FROM plugins p
 GROUP BY p.org_id, p.name;
