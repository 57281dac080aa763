-- Alerts raised and resolved by the compliance rules, and their webhook deliveries. Alert ids are
-- derived from rule, subject and deadline, so a re-raised alert is the same row after merges.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id          UUID,
    alert_type        LowCardinality(String),
    rule_id           LowCardinality(String),
    catalogue_version LowCardinality(String),
    severity          LowCardinality(String),
    enterprise_id     LowCardinality(String),
    site_id           String,
    division_code     LowCardinality(String),
    subject_kind      LowCardinality(String),
    subject_id        String,
    at                DateTime64(3, 'Asia/Shanghai'),
    deadline          Nullable(DateTime64(3, 'Asia/Shanghai')),
    profile           LowCardinality(String),
    title_zh          String,
    late              Bool,
    late_reason       LowCardinality(String),
    evidence          Array(String),
    details           String,
    stored_at         DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (division_code, rule_id, alert_id, alert_type);

CREATE TABLE IF NOT EXISTS alert_deliveries
(
    alert_id     UUID,
    alert_type   LowCardinality(String),
    route        LowCardinality(String),
    status       LowCardinality(String),
    attempts     UInt16,
    http_status  UInt16,
    error        String,
    delivered_at DateTime64(3, 'Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(delivered_at)
ORDER BY (alert_id, alert_type, route);

-- The place of an event inside its Kafka record, so a replay from the warehouse keeps log order.
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS record_index UInt32 AFTER kafka_offset;
