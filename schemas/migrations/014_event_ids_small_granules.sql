-- The sink's dedupe index (event_ids, 001) in granules of 256 ids and compressed blocks of 4 to
-- 8 kB, not the defaults of 8 192 rows and 64 kB to 1 MB. A batch's ids are random, so each finds
-- a granule of its own: with the defaults, a lookup of 2 000 ids read every granule of a table
-- under 16 M ids and a whole block for each id beyond, and the sink slowed as the warehouse grew.
-- Measured in chDB, 2 000 ids of which 1 000 on file, one merged part: 18 ms at 0.3 M ids, 62 ms
-- at 3 M, 339 ms at 30 M before; 22, 32 and 49 ms now.
--
-- Copied and exchanged as in 010: event_ids_mv writes to the table by name, so it fills the copy.
-- A run cut short can run again: it first drops whatever copy the last run left.
DROP TABLE IF EXISTS event_ids_small_granules;

CREATE TABLE event_ids_small_granules AS event_ids
ENGINE = ReplacingMergeTree
ORDER BY event_id
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 8192;

INSERT INTO event_ids_small_granules SELECT * FROM event_ids;

EXCHANGE TABLES event_ids AND event_ids_small_granules;

DROP TABLE event_ids_small_granules;
