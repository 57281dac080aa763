-- Vehicles family: departures, arrivals, disinfections and unplanned stops.
CREATE TABLE IF NOT EXISTS vehicle_events
(
    event_id      UUID,
    event_type    LowCardinality(String),
    occurred_at   DateTime64(3, 'Asia/Shanghai'),
    received_at   DateTime64(3, 'Asia/Shanghai'),
    enterprise_id LowCardinality(String),
    brand         LowCardinality(String),
    site_id       String,
    division_code LowCardinality(String),
    vehicle_id    String,
    route_id      String,
    seal_id       String,
    seal_intact   Nullable(Bool),
    driver_id     String,
    latitude      Nullable(Float64),
    longitude     Nullable(Float64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (division_code, vehicle_id, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS vehicle_events_mv TO vehicle_events AS
SELECT
    event_id,
    event_type,
    occurred_at,
    received_at,
    enterprise_id,
    brand,
    site_id,
    division_code,
    JSONExtractString(payload, 'vehicle_id') AS vehicle_id,
    JSONExtractString(payload, 'route_id') AS route_id,
    JSONExtractString(payload, 'seal_id') AS seal_id,
    if(event_type = 'vehicle.arrived', JSONExtractBool(payload, 'seal_intact'), NULL) AS seal_intact,
    JSONExtractString(payload, 'driver_id') AS driver_id,
    if(event_type = 'vehicle.stopped', JSONExtractFloat(payload, 'latitude'), NULL) AS latitude,
    if(event_type = 'vehicle.stopped', JSONExtractFloat(payload, 'longitude'), NULL) AS longitude
FROM raw_events
WHERE event_type IN ('vehicle.departed', 'vehicle.arrived', 'vehicle.disinfected', 'vehicle.stopped');
