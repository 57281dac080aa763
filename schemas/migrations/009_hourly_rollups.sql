-- Hourly rollups for the dashboards: a month of panels reads a few million rollup rows instead of
-- scanning 100 M events. Each is filled by a materialized view on the table it sums (the typed
-- tables are themselves filled by views on raw_events, and views chain), then backfilled from the
-- rows already stored. Panels read whole hours here and the partial hours at a range's ends from
-- the event tables (dashboards/rollup.py), so a rollup answer equals the scan it replaces.
-- Sets (batches, vehicles) are uniqExact states, merged per site where ids are per site. Counts of
-- any event type (staff checks and shifts too) come from events_hourly.
CREATE TABLE IF NOT EXISTS events_hourly
(
    division_code LowCardinality(String),
    brand         LowCardinality(String),
    site_id       String,
    event_type    LowCardinality(String),
    hour          DateTime('Asia/Shanghai'),
    events        SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (division_code, brand, site_id, event_type, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_mv TO events_hourly AS
SELECT division_code, brand, site_id, event_type, toStartOfHour(toDateTime(occurred_at)) AS hour,
       toUInt64(count()) AS events
FROM raw_events
GROUP BY division_code, brand, site_id, event_type, hour;

INSERT INTO events_hourly
SELECT division_code, brand, site_id, event_type, toStartOfHour(toDateTime(occurred_at)) AS hour,
       toUInt64(count()) AS events
FROM raw_events
GROUP BY division_code, brand, site_id, event_type, hour;

CREATE TABLE IF NOT EXISTS parcels_hourly
(
    division_code     LowCardinality(String),
    brand             LowCardinality(String),
    site_id           String,
    event_type        LowCardinality(String),
    origin            LowCardinality(String),
    from_outside_city Bool,
    hour              DateTime('Asia/Shanghai'),
    events            SimpleAggregateFunction(sum, UInt64),
    items             SimpleAggregateFunction(sum, UInt64),
    batches           AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (division_code, brand, site_id, event_type, origin, from_outside_city, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS parcels_hourly_mv TO parcels_hourly AS
SELECT division_code, brand, site_id, event_type, origin, from_outside_city,
       toStartOfHour(toDateTime(occurred_at)) AS hour, toUInt64(count()) AS events,
       toUInt64(sum(item_count)) AS items, uniqExactState(batch_id) AS batches
FROM parcel_events
GROUP BY division_code, brand, site_id, event_type, origin, from_outside_city, hour;

INSERT INTO parcels_hourly
SELECT division_code, brand, site_id, event_type, origin, from_outside_city,
       toStartOfHour(toDateTime(occurred_at)) AS hour, toUInt64(count()) AS events,
       toUInt64(sum(item_count)) AS items, uniqExactState(batch_id) AS batches
FROM parcel_events
GROUP BY division_code, brand, site_id, event_type, origin, from_outside_city, hour;

CREATE TABLE IF NOT EXISTS vehicles_hourly
(
    division_code LowCardinality(String),
    brand         LowCardinality(String),
    site_id       String,
    event_type    LowCardinality(String),
    route_id      String,
    hour          DateTime('Asia/Shanghai'),
    events        SimpleAggregateFunction(sum, UInt64),
    vehicles      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (division_code, brand, site_id, event_type, route_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS vehicles_hourly_mv TO vehicles_hourly AS
SELECT division_code, brand, site_id, event_type, route_id, toStartOfHour(toDateTime(occurred_at)) AS hour,
       toUInt64(count()) AS events, uniqExactState(vehicle_id) AS vehicles
FROM vehicle_events
GROUP BY division_code, brand, site_id, event_type, route_id, hour;

INSERT INTO vehicles_hourly
SELECT division_code, brand, site_id, event_type, route_id, toStartOfHour(toDateTime(occurred_at)) AS hour,
       toUInt64(count()) AS events, uniqExactState(vehicle_id) AS vehicles
FROM vehicle_events
GROUP BY division_code, brand, site_id, event_type, route_id, hour;
