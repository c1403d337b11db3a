-- Delivery charts: each webhook's hourly bucket also counts what the
-- recorder decided besides attempts at the receiver, and how long the
-- receiver took to answer, as a fixed histogram (one column per bin),
-- so the console's 24-hour and 7-day charts and the stats endpoint read
-- at most 168 small rows per webhook and never an attempt.
--
-- successes and failures (attempts at the receiver) stay as they were;
-- of the failures, `dropped` were the last attempt (the rest were retried).
-- Bins l00..l24: answers of at most 1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120,
-- 200, 300, 500, 800, 1200, 2000, 3000, 5000, 8000, 12000, 20000, 30000,
-- 50000 ms, and slower (see domain/latency.rs).
ALTER TABLE webhook_hours ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN filtered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN plugin_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l00 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l01 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l02 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l03 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l04 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l05 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l06 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l07 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l08 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l09 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l11 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l12 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l13 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l14 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l15 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l16 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l17 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l18 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l19 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l20 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l21 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l22 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l23 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_hours ADD COLUMN l24 INTEGER NOT NULL DEFAULT 0;
