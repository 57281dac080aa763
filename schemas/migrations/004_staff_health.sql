-- Staff health family: checks, tests, vaccinations and shifts, one row per event.
CREATE TABLE IF NOT EXISTS staff_health_events
(
    event_id      UUID,
    event_type    LowCardinality(String),
    occurred_at   DateTime64(3, 'Asia/Shanghai'),
    received_at   DateTime64(3, 'Asia/Shanghai'),
    enterprise_id LowCardinality(String),
    brand         LowCardinality(String),
    site_id       String,
    division_code LowCardinality(String),
    staff_id      String,
    temperature   Nullable(Float32),
    symptoms      Array(LowCardinality(String)),
    health_code   LowCardinality(String),
    test_kind     LowCardinality(String),
    sampled_at    Nullable(DateTime64(3, 'Asia/Shanghai')),
    result        LowCardinality(String),
    dose          UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (division_code, site_id, event_type, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS staff_health_events_mv TO staff_health_events AS
SELECT
    event_id,
    event_type,
    occurred_at,
    received_at,
    enterprise_id,
    brand,
    site_id,
    division_code,
    JSONExtractString(payload, 'staff_id') AS staff_id,
    if(event_type = 'staff.health_checked', JSONExtractFloat(payload, 'temperature'), NULL) AS temperature,
    JSONExtract(payload, 'symptoms', 'Array(String)') AS symptoms,
    JSONExtractString(payload, 'health_code') AS health_code,
    JSONExtractString(payload, 'test_kind') AS test_kind,
    parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'sampled_at'), 3, 'Asia/Shanghai') AS sampled_at,
    JSONExtractString(payload, 'result') AS result,
    JSONExtractUInt(payload, 'dose') AS dose
FROM raw_events
WHERE event_type IN ('staff.health_checked', 'staff.tested', 'staff.vaccinated', 'staff.shift_started');
