-- Each parcel batch counted once, at its first receipt (and at its first disinfection), so the
-- batch panels add counts hour by hour instead of putting every batch id of the range in a set.
-- The sink writes the ledger (streams/sink.py, BatchFirsts): +1 at a batch's first receipt of
-- each kind, and when a record earlier than the one on file arrives, -1 at the old time and +1 at
-- the new one, before the events themselves, so a replay finds the batch and writes nothing.
-- The ledger is sorted for the sink's lookups; a view copies it into an hour-first timeline for
-- the partial hours of a panel's range, and another sums it into an hourly rollup for the whole hours.
CREATE TABLE IF NOT EXISTS batch_firsts
(
    site_id           String,
    batch_id          String,
    event_type        LowCardinality(String),
    occurred_at       DateTime64(3, 'Asia/Shanghai'),
    sign              Int8,
    division_code     LowCardinality(String),
    brand             LowCardinality(String),
    origin            LowCardinality(String),
    from_outside_city Bool
)
ENGINE = MergeTree
ORDER BY (site_id, batch_id, event_type)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS batch_firsts_timeline AS batch_firsts
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (toStartOfHour(occurred_at), division_code, site_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS batch_firsts_timeline_mv TO batch_firsts_timeline AS
SELECT * FROM batch_firsts;

CREATE TABLE IF NOT EXISTS batch_firsts_hourly
(
    division_code     LowCardinality(String),
    brand             LowCardinality(String),
    site_id           String,
    event_type        LowCardinality(String),
    origin            LowCardinality(String),
    from_outside_city Bool,
    hour              DateTime('Asia/Shanghai'),
    batches           SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, division_code, brand, site_id, event_type, origin, from_outside_city);

CREATE MATERIALIZED VIEW IF NOT EXISTS batch_firsts_hourly_mv TO batch_firsts_hourly AS
SELECT division_code, brand, site_id, event_type, origin, from_outside_city,
       toStartOfHour(toDateTime(occurred_at)) AS hour, toInt64(sum(sign)) AS batches
FROM batch_firsts
GROUP BY division_code, brand, site_id, event_type, origin, from_outside_city, hour;

-- The batches stored before this migration: one +1 row each at its earliest record of each kind.
INSERT INTO batch_firsts
    (site_id, batch_id, event_type, occurred_at, sign, division_code, brand, origin, from_outside_city)
SELECT site_id, batch_id, event_type, min(occurred_at), 1, argMin(division_code, occurred_at),
       argMin(brand, occurred_at), argMin(origin, occurred_at), argMin(from_outside_city, occurred_at)
FROM parcel_events
WHERE event_type IN ('parcels.received', 'parcels.disinfected')
GROUP BY site_id, batch_id, event_type;
