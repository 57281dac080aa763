-- Community anomalies, voided events and the response level in force per jurisdiction.
CREATE TABLE IF NOT EXISTS anomalies
(
    event_id      UUID,
    occurred_at   DateTime64(3, 'Asia/Shanghai'),
    received_at   DateTime64(3, 'Asia/Shanghai'),
    enterprise_id LowCardinality(String),
    site_id       String,
    division_code LowCardinality(String),
    category      LowCardinality(String),
    description   String,
    community     String,
    grid_id       String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (division_code, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS anomalies_mv TO anomalies AS
SELECT
    event_id,
    occurred_at,
    received_at,
    enterprise_id,
    site_id,
    if(JSONExtractString(payload, 'division_code') != '', JSONExtractString(payload, 'division_code'), division_code)
        AS division_code,
    JSONExtractString(payload, 'category') AS category,
    JSONExtractString(payload, 'description') AS description,
    JSONExtractString(payload, 'community') AS community,
    JSONExtractString(payload, 'grid_id') AS grid_id
FROM raw_events
WHERE event_type = 'anomaly.reported';

CREATE TABLE IF NOT EXISTS voided_events
(
    voided_event_id UUID,
    event_id        UUID,
    enterprise_id   LowCardinality(String),
    site_id         String,
    reason          String,
    occurred_at     DateTime64(3, 'Asia/Shanghai')
)
ENGINE = ReplacingMergeTree
ORDER BY (voided_event_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS voided_events_mv TO voided_events AS
SELECT
    toUUID(JSONExtractString(payload, 'voided_event_id')) AS voided_event_id,
    event_id,
    enterprise_id,
    site_id,
    JSONExtractString(payload, 'reason') AS reason,
    occurred_at
FROM raw_events
WHERE event_type = 'event.voided';

CREATE TABLE IF NOT EXISTS policy_levels
(
    division_code LowCardinality(String),
    level         LowCardinality(String),
    effective_at  DateTime64(3, 'Asia/Shanghai'),
    authority     LowCardinality(String),
    event_id      UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (division_code, effective_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS policy_levels_mv TO policy_levels AS
SELECT
    JSONExtractString(payload, 'division_code') AS division_code,
    JSONExtractString(payload, 'level') AS level,
    occurred_at AS effective_at,
    enterprise_id AS authority,
    event_id
FROM raw_events
WHERE event_type = 'policy.level_changed';
