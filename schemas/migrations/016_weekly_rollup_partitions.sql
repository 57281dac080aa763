-- The hourly rollups (009, 011) partitioned by week, not by month. Parts merge only within their
-- partition, and a rollup part of a few hundred rows merged again and again with its month's big
-- part: after 300 000 events stored in one go, a paced sink spent about half a core on merges.
-- Measured in chDB, one process (the sink alone, merges included), 60 s of 650 events/s in two
-- inserts a second after a 300 000-event burst: 0.88 and 0.90 cores before, 0.62 and 0.66 with
-- weekly rollups (0.63 and 0.65 daily, 0.40 with merges stopped). A year is 52 partitions a table;
-- a 30-day panel reads five.
--
-- Copied and exchanged as in 010: each view writes to its rollup by name, so it fills the copy.
-- A run cut short can run again: it first drops whatever copy the last run left.
DROP TABLE IF EXISTS events_hourly_by_week;

CREATE TABLE events_hourly_by_week AS events_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toMonday(hour)
ORDER BY (division_code, brand, site_id, event_type, hour);

INSERT INTO events_hourly_by_week SELECT * FROM events_hourly;

EXCHANGE TABLES events_hourly AND events_hourly_by_week;

DROP TABLE events_hourly_by_week;

DROP TABLE IF EXISTS parcels_hourly_by_week;

CREATE TABLE parcels_hourly_by_week AS parcels_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toMonday(hour)
ORDER BY (division_code, brand, site_id, event_type, origin, from_outside_city, hour);

INSERT INTO parcels_hourly_by_week SELECT * FROM parcels_hourly;

EXCHANGE TABLES parcels_hourly AND parcels_hourly_by_week;

DROP TABLE parcels_hourly_by_week;

DROP TABLE IF EXISTS vehicles_hourly_by_week;

CREATE TABLE vehicles_hourly_by_week AS vehicles_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toMonday(hour)
ORDER BY (division_code, brand, site_id, event_type, route_id, hour);

INSERT INTO vehicles_hourly_by_week SELECT * FROM vehicles_hourly;

EXCHANGE TABLES vehicles_hourly AND vehicles_hourly_by_week;

DROP TABLE vehicles_hourly_by_week;

DROP TABLE IF EXISTS batch_firsts_hourly_by_week;

CREATE TABLE batch_firsts_hourly_by_week AS batch_firsts_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toMonday(hour)
ORDER BY (hour, division_code, brand, site_id, event_type, origin, from_outside_city);

INSERT INTO batch_firsts_hourly_by_week SELECT * FROM batch_firsts_hourly;

EXCHANGE TABLES batch_firsts_hourly AND batch_firsts_hourly_by_week;

DROP TABLE batch_firsts_hourly_by_week;
