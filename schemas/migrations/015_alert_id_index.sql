-- A bloom filter on alert_id in every granule of alerts. The alert sink looks up the ids of each
-- batch of alerts before storing it (a replayed or re-raised alert is one row), and alerts are
-- sorted by division and rule first, so a lookup by id read the whole alert_id column: at 4 M
-- alerts (a city's 100 M events raise about that many), 50 ids took 55 ms, 33 ms with the index
-- (chDB, one merged part; 11 ms either way at 0.3 M). Materializing it over 4 M alerts took 0.3 s.
ALTER TABLE alerts ADD INDEX IF NOT EXISTS alert_id_bloom alert_id TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE alerts MATERIALIZE INDEX alert_id_bloom SETTINGS mutations_sync = 2;
