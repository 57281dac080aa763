-- Parcels family and site hygiene: batches received, disinfected, dispatched; premises
-- disinfections, environment samples and inspections.
CREATE TABLE IF NOT EXISTS parcel_events
(
    event_id            UUID,
    event_type          LowCardinality(String),
    occurred_at         DateTime64(3, 'Asia/Shanghai'),
    received_at         DateTime64(3, 'Asia/Shanghai'),
    enterprise_id       LowCardinality(String),
    brand               LowCardinality(String),
    site_id             String,
    division_code       LowCardinality(String),
    batch_id            String,
    item_count          UInt32,
    origin              LowCardinality(String),
    origin_country      LowCardinality(String),
    from_outside_city   Bool,
    vehicle_id          String,
    method              LowCardinality(String),
    agent               String,
    operator_id         String,
    destination_site_id String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (division_code, site_id, event_type, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS parcel_events_mv TO parcel_events AS
SELECT
    event_id,
    event_type,
    occurred_at,
    received_at,
    enterprise_id,
    brand,
    site_id,
    division_code,
    JSONExtractString(payload, 'batch_id') AS batch_id,
    JSONExtractUInt(payload, 'item_count') AS item_count,
    JSONExtractString(payload, 'origin') AS origin,
    JSONExtractString(payload, 'origin_country') AS origin_country,
    JSONExtractBool(payload, 'from_outside_city') AS from_outside_city,
    JSONExtractString(payload, 'vehicle_id') AS vehicle_id,
    JSONExtractString(payload, 'method') AS method,
    JSONExtractString(payload, 'agent') AS agent,
    JSONExtractString(payload, 'operator_id') AS operator_id,
    JSONExtractString(payload, 'destination_site_id') AS destination_site_id
FROM raw_events
WHERE event_type IN ('parcels.received', 'parcels.disinfected', 'parcels.dispatched');

CREATE TABLE IF NOT EXISTS site_hygiene_events
(
    event_id      UUID,
    event_type    LowCardinality(String),
    occurred_at   DateTime64(3, 'Asia/Shanghai'),
    received_at   DateTime64(3, 'Asia/Shanghai'),
    enterprise_id LowCardinality(String),
    brand         LowCardinality(String),
    site_id       String,
    division_code LowCardinality(String),
    area          LowCardinality(String),
    method        LowCardinality(String),
    result        LowCardinality(String),
    passed        Nullable(Bool)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (division_code, site_id, event_type, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS site_hygiene_events_mv TO site_hygiene_events AS
SELECT
    event_id,
    event_type,
    occurred_at,
    received_at,
    enterprise_id,
    brand,
    site_id,
    division_code,
    JSONExtractString(payload, 'area') AS area,
    JSONExtractString(payload, 'method') AS method,
    JSONExtractString(payload, 'result') AS result,
    if(event_type = 'site.inspected', JSONExtractBool(payload, 'passed'), NULL) AS passed
FROM raw_events
WHERE event_type IN ('site.disinfected', 'site.environment_sampled', 'site.inspected');
