-- Records that reached Kafka but broke the contract, with the reason. Nothing is dropped silently.
-- Keyed by their place in Kafka, so a record parked again after a replay is one row after merges.
CREATE TABLE IF NOT EXISTS dead_letters
(
    parked_at       DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3),
    topic           LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    record_index    UInt32,
    record_key      String,
    event_id        String,
    field           String,
    reason          String,
    preview         String,
    value_base64    String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(parked_at)
ORDER BY (topic, kafka_partition, kafka_offset, record_index);
