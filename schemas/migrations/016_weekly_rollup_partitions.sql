-- The hourly rollups whose sorting key puts the site before the hour (009) partitioned by week,
-- not by month. Parts merge only within their partition, and a rollup part of a few hundred rows
-- merged again and again with its month's big part: after 300 000 events stored in one go, a paced
-- sink spent about half a core on merges. And a 24-hour panel, which cannot skip granules by an
-- hour that comes last in the key, read the month: now it reads a week or two.
-- Measured in chDB (the sink alone in one process, merges included), 60 s of 650 events/s in two
-- inserts a second after a 300 000-event burst, four runs each: 0.88, 0.90, 0.88 and 0.71 cores
-- before (mean 0.84); 0.67, 0.82, 0.87 and 0.68 (0.76) with these three weekly; 0.62, 0.66, 0.59
-- and 0.76 (0.66) with batch_firsts_hourly weekly too; 0.40 with merges stopped. Over 100 M
-- generated events the last-24-hours panels on events_hourly took half as long (事件总数 p50 52 to
-- 22 ms). batch_firsts_hourly (011) stays monthly: sorted by the hour first, a day's range already
-- reads its own hours, and partitioned by week its 30-day panels were a third slower at 100 M
-- (各网点消毒批次 p50 300 against 355 and 406 ms), which the 0.1 cores it saved above do not buy.
-- A year is 52 partitions a table; a 30-day panel reads five.
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
