"""The event source for replays: stored events from the warehouse, or the Kafka log itself.

Both yield `LogEntry`s in log order per partition. The warehouse keeps each event's Kafka
partition, offset and place in its record; the Kafka log also has the clock ticks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from deploy.settings import Settings
from schemas import events
from schemas.clock import decode_tick
from streams.compliance.replay import LogEntry
from streams.warehouse import Reader, literal

PAGE = 20_000


def from_warehouse(reader: Reader, since: datetime, until: datetime) -> Iterator[LogEntry]:
    """Stored events that occurred in [since, until), page by page in log order."""
    after = (-1, -1, -1)
    window = (
        f"occurred_at >= parseDateTime64BestEffort({literal(since.isoformat())}, 3) "
        f"AND occurred_at < parseDateTime64BestEffort({literal(until.isoformat())}, 3)"
    )
    while True:
        rows = reader.query(
            "SELECT kafka_partition AS p, kafka_offset AS o, record_index AS i, toString(event_id) AS event_id, "
            "event_type, schema_version, formatDateTime(occurred_at, '%Y-%m-%dT%H:%i:%S.%f+08:00') AS occurred, "
            "formatDateTime(received_at, '%Y-%m-%dT%H:%i:%S.%f+08:00') AS received, enterprise_id, site_id, "
            "party_branch_id, actor_id, payload FROM raw_events "
            f"WHERE {window} AND (kafka_partition, kafka_offset, record_index) > {after} "
            f"ORDER BY kafka_partition, kafka_offset, record_index LIMIT {PAGE}"
        )
        for row in rows:
            yield LogEntry(row["p"], row["o"], row["i"], events.decode(_event_json(row)))
        if len(rows) < PAGE:
            return
        after = (rows[-1]["p"], rows[-1]["o"], rows[-1]["i"])


def _event_json(row: dict[str, Any]) -> bytes:
    envelope = {
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "schema_version": row["schema_version"],
        "occurred_at": row["occurred"],
        "received_at": row["received"],
        "enterprise_id": row["enterprise_id"],
        "site_id": row["site_id"],
    }
    for optional in ("party_branch_id", "actor_id"):
        if row[optional]:
            envelope[optional] = row[optional]
    head: bytes = orjson.dumps(envelope)
    return head[:-1] + b',"payload":' + str(row["payload"]).encode() + b"}"


def from_kafka(settings: Settings, since: datetime, until: datetime) -> Iterator[LogEntry]:
    """The events topic from its beginning to its current end, with ticks, filtered to the range."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","), enable_auto_commit=False, group_id=None
    )
    try:
        partitions = [
            TopicPartition(settings.topic_events, p) for p in consumer.partitions_for_topic(settings.topic_events)
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        for partition in sorted(partitions, key=lambda tp: tp.partition):
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            while consumer.position(partition) < ends[partition]:
                for record in consumer.poll(timeout_ms=1000, max_records=5000).get(partition, []):
                    yield from _entries(record.partition, record.offset, record.key, record.value, since, until)
    finally:
        consumer.close()


def _entries(
    partition: int, offset: int, key: bytes | None, value: bytes, since: datetime, until: datetime
) -> Iterator[LogEntry]:
    tick = decode_tick(key, value)
    if tick is not None:
        if since <= tick < until:
            yield LogEntry(partition, offset, 0, tick)
        return
    try:
        raws = events.split(value)
    except events.InvalidEvent:
        return
    for index, raw in enumerate(raws):
        try:
            event = events.decode(raw)
        except events.InvalidEvent:
            continue
        if since <= event.occurred_at < until:
            yield LogEntry(partition, offset, index, event)
