-- The alert desk's history: every acknowledgement, assignment (督办) and closure a regulator
-- recorded, as events in raw_events like every other fact; this view keeps them per alert. A
-- replay of the log rebuilds it.
CREATE TABLE IF NOT EXISTS alert_actions
(
    event_id               UUID,
    alert_id               UUID,
    action                 LowCardinality(String),
    occurred_at            DateTime64(3, 'Asia/Shanghai'),
    received_at            DateTime64(3, 'Asia/Shanghai'),
    regulator_id           LowCardinality(String),
    enterprise_id          LowCardinality(String),
    site_id                String,
    division_code          LowCardinality(String),
    assignee_enterprise_id LowCardinality(String),
    due                    Nullable(DateTime64(3, 'Asia/Shanghai')),
    note                   String
)
ENGINE = ReplacingMergeTree
ORDER BY (alert_id, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS alert_actions_mv TO alert_actions AS
SELECT
    event_id,
    toUUID(JSONExtractString(payload, 'alert_id')) AS alert_id,
    replaceOne(event_type, 'alert.', '') AS action,
    occurred_at,
    received_at,
    JSONExtractString(payload, 'regulator_id') AS regulator_id,
    enterprise_id,
    site_id,
    division_code,
    JSONExtractString(payload, 'assignee_enterprise_id') AS assignee_enterprise_id,
    if(JSONHas(payload, 'due'), parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'due'), 3, 'Asia/Shanghai'), NULL)
        AS due,
    JSONExtractString(payload, 'note') AS note
FROM raw_events
WHERE event_type IN ('alert.acknowledged', 'alert.assigned', 'alert.closed');
