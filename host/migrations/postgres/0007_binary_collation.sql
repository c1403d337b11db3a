-- Every text column compares bytewise (COLLATE "C"), as SQLite's do.
--
-- Ids, statuses and names are matched and sorted in every hot statement,
-- and under a database's default locale each comparison goes through the
-- C library's locale machinery (strcoll): a measurable share of the
-- server's CPU under delivery load. Byte order is also what the SQLite
-- store gives, so the two stores now order names alike. Every column moves
-- together, so no comparison ever mixes two collations.
-- One ALTER a table, so each table is rewritten once.
DO $$
DECLARE
    tab record;
BEGIN
    FOR tab IN
        SELECT c.table_name,
               string_agg(format('ALTER COLUMN %I TYPE text COLLATE "C"', c.column_name), ', '
                          ORDER BY c.ordinal_position) AS changes
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema()
          AND t.table_type = 'BASE TABLE'
          AND c.data_type = 'text'
          AND c.table_name <> '_sqlx_migrations'
        GROUP BY c.table_name
        ORDER BY c.table_name
    LOOP
        EXECUTE format('ALTER TABLE %I %s', tab.table_name, tab.changes);
    END LOOP;
END
$$;
