-- Registry projections: the latest registration of each site, staff member, vehicle and route.
CREATE TABLE IF NOT EXISTS sites
(
    site_id               String,
    enterprise_id         LowCardinality(String),
    brand                 LowCardinality(String),
    operation             LowCardinality(String),
    site_kind             LowCardinality(String),
    division_code         LowCardinality(String),
    name                  String,
    latitude              Float64,
    longitude             Float64,
    handles_international Bool,
    registered_at         DateTime64(3, 'Asia/Shanghai'),
    event_id              UUID
)
ENGINE = ReplacingMergeTree(registered_at)
ORDER BY site_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS sites_mv TO sites AS
SELECT
    site_id,
    enterprise_id,
    JSONExtractString(payload, 'brand') AS brand,
    JSONExtractString(payload, 'operation') AS operation,
    JSONExtractString(payload, 'site_kind') AS site_kind,
    JSONExtractString(payload, 'division_code') AS division_code,
    JSONExtractString(payload, 'name') AS name,
    JSONExtractFloat(payload, 'latitude') AS latitude,
    JSONExtractFloat(payload, 'longitude') AS longitude,
    JSONExtractBool(payload, 'handles_international') AS handles_international,
    occurred_at AS registered_at,
    event_id
FROM raw_events
WHERE event_type = 'site.registered';

CREATE TABLE IF NOT EXISTS staff
(
    staff_id      String,
    enterprise_id LowCardinality(String),
    site_id       String,
    division_code LowCardinality(String),
    role          LowCardinality(String),
    employer      LowCardinality(String),
    agency_id     String,
    vetted        Bool,
    active        Bool,
    changed_at    DateTime64(3, 'Asia/Shanghai'),
    event_id      UUID
)
ENGINE = ReplacingMergeTree(changed_at)
ORDER BY staff_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS staff_mv TO staff AS
SELECT
    JSONExtractString(payload, 'staff_id') AS staff_id,
    enterprise_id,
    site_id,
    division_code,
    JSONExtractString(payload, 'role') AS role,
    JSONExtractString(payload, 'employer') AS employer,
    JSONExtractString(payload, 'agency_id') AS agency_id,
    JSONExtractBool(payload, 'vetted') AS vetted,
    event_type = 'staff.enrolled' AS active,
    occurred_at AS changed_at,
    event_id
FROM raw_events
WHERE event_type IN ('staff.enrolled', 'staff.left');

CREATE TABLE IF NOT EXISTS vehicles
(
    vehicle_id       String,
    enterprise_id    LowCardinality(String),
    site_id          String,
    division_code    LowCardinality(String),
    vehicle_kind     LowCardinality(String),
    capacity_parcels UInt32,
    registered_at    DateTime64(3, 'Asia/Shanghai'),
    event_id         UUID
)
ENGINE = ReplacingMergeTree(registered_at)
ORDER BY vehicle_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS vehicles_mv TO vehicles AS
SELECT
    JSONExtractString(payload, 'vehicle_id') AS vehicle_id,
    enterprise_id,
    site_id,
    division_code,
    JSONExtractString(payload, 'vehicle_kind') AS vehicle_kind,
    JSONExtractUInt(payload, 'capacity_parcels') AS capacity_parcels,
    occurred_at AS registered_at,
    event_id
FROM raw_events
WHERE event_type = 'vehicle.registered';

CREATE TABLE IF NOT EXISTS routes
(
    route_id      String,
    vehicle_id    String,
    enterprise_id LowCardinality(String),
    site_id       String,
    division_code LowCardinality(String),
    stops         Array(String),
    window_start  DateTime64(3, 'Asia/Shanghai'),
    window_end    DateTime64(3, 'Asia/Shanghai'),
    planned_at    DateTime64(3, 'Asia/Shanghai'),
    event_id      UUID
)
ENGINE = ReplacingMergeTree(planned_at)
ORDER BY route_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS routes_mv TO routes AS
SELECT
    JSONExtractString(payload, 'route_id') AS route_id,
    JSONExtractString(payload, 'vehicle_id') AS vehicle_id,
    enterprise_id,
    site_id,
    division_code,
    JSONExtract(payload, 'stops', 'Array(String)') AS stops,
    parseDateTime64BestEffort(JSONExtractString(payload, 'window_start'), 3, 'Asia/Shanghai') AS window_start,
    parseDateTime64BestEffort(JSONExtractString(payload, 'window_end'), 3, 'Asia/Shanghai') AS window_end,
    occurred_at AS planned_at,
    event_id
FROM raw_events
WHERE event_type = 'route.planned';
