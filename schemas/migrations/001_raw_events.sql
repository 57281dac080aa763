-- Every accepted event, envelope columns plus the payload as JSON. Replaying the log rebuilds
-- everything else. The sink skips ids already stored (see event_ids); ReplacingMergeTree on the
-- same key removes any copy that still slips in when parts merge.
CREATE TABLE IF NOT EXISTS raw_events
(
    event_id        UUID,
    event_type      LowCardinality(String),
    schema_version  UInt16,
    occurred_at     DateTime64(3, 'Asia/Shanghai'),
    received_at     DateTime64(3, 'Asia/Shanghai'),
    stored_at       DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3),
    enterprise_id   LowCardinality(String),
    site_id         String,
    division_code   LowCardinality(String),
    brand           LowCardinality(String),
    party_branch_id String,
    actor_id        String,
    payload         String,
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (site_id, occurred_at, event_id);

-- The dedupe index: ids sorted, so looking up a batch of ids reads a few granules.
CREATE TABLE IF NOT EXISTS event_ids
(
    event_id    UUID,
    occurred_at DateTime64(3, 'Asia/Shanghai')
)
ENGINE = ReplacingMergeTree
ORDER BY event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_ids_mv TO event_ids AS
SELECT event_id, occurred_at FROM raw_events;
