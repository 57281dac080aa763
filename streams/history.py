"""The event source for replays: stored events from the warehouse, or the Kafka log itself.

Both yield `LogEntry`s in log order per partition. The warehouse keeps each event's Kafka
partition, offset and place in its record; the Kafka log also has the clock ticks. For a range
[since, until) both hand over what the state as of `since` needs (`streams.compliance.replay`):
the registry's events from the beginning and the others from `WARMUP` before `since`. The
warehouse stores a policy change once (the log has it on every partition): it comes first, for
every partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from schemas import events
from streams.compliance.activity import REGISTRY_EVENTS
from streams.compliance.replay import EVERY_PARTITION, WARMUP, LogEntry
from streams.placement import signing_key
from streams.records import Record, decode_records
from streams.settings import Settings
from streams.warehouse import Reader, literal, reader_password

PAGE = 20_000
REGISTRY_TYPES = frozenset(events.EVENT_TAGS[cls] for cls in REGISTRY_EVENTS)


COLUMNS = (
    "kafka_partition AS p, kafka_offset AS o, record_index AS i, toString(event_id) AS event_id, "
    "event_type, schema_version, formatDateTime(occurred_at, '%Y-%m-%dT%H:%i:%S.%f+08:00') AS occurred, "
    "formatDateTime(received_at, '%Y-%m-%dT%H:%i:%S.%f+08:00') AS received, enterprise_id, site_id, "
    "party_branch_id, actor_id, backfill, payload"
)


def from_warehouse(reader: Reader, since: datetime, until: datetime) -> Iterator[LogEntry]:
    """Stored events for the range [since, until), page by page in log order, after its policy changes."""
    before = f"occurred_at < parseDateTime64BestEffort({literal(until.isoformat())}, 3)"
    policies = reader.query(
        f"SELECT {COLUMNS} FROM raw_events WHERE event_type = 'policy.level_changed' AND {before} "
        "ORDER BY occurred_at, event_id LIMIT 1 BY event_id"
    )
    for row in policies:
        yield LogEntry(EVERY_PARTITION, row["o"], row["i"], events.decode(_event_json(row)))
    start = literal((since - WARMUP).isoformat())
    registry = ", ".join(literal(name) for name in REGISTRY_TYPES)
    window = (
        f"{before} AND event_type != 'policy.level_changed' "
        f"AND (occurred_at >= parseDateTime64BestEffort({start}, 3) OR event_type IN ({registry}))"
    )
    after = (-1, -1, -1)
    while True:
        rows = reader.query(
            f"SELECT {COLUMNS} FROM raw_events "
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
    for optional in ("party_branch_id", "actor_id", "backfill"):
        if row[optional]:
            envelope[optional] = row[optional]
    head: bytes = orjson.dumps(envelope)
    return head[:-1] + b',"payload":' + str(row["payload"]).encode() + b"}"


def from_kafka(settings: Settings, since: datetime, until: datetime) -> Iterator[LogEntry]:
    """The events topic from its beginning to its current end, with ticks, filtered to the range:
    decoded as the worker decodes it (arrival, placement, origin; parked events left out)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","), enable_auto_commit=False, group_id=None
    )
    signing = signing_key(reader_password(settings))
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
                for message in consumer.poll(timeout_ms=1000, max_records=5000).get(partition, []):
                    record = Record(
                        message.topic,
                        message.partition,
                        message.offset,
                        message.key,
                        message.value or b"",
                        message.timestamp,
                        tuple((name, value or b"") for name, value in message.headers or ()),
                    )
                    yield from _entries(record, (since, until), settings.max_event_age, len(partitions), signing)
    finally:
        consumer.close()


def _entries(
    record: Record,
    span: tuple[datetime, datetime],
    max_age: timedelta,
    partitions: int | None = None,
    signing: bytes | None = None,
) -> Iterator[LogEntry]:
    """A record's events (or its tick) in the range, as the worker folds them (`decode_records`)."""
    since, until = span
    start = since - WARMUP
    [item] = decode_records([record], max_age, partitions, signing)
    if item.tick is not None:
        if start <= item.tick < until:
            yield LogEntry(record.partition, record.offset, 0, item.tick)
        return
    origin = item.origin.name if item.origin is not None else None
    for index, _, event in item.valid:
        if event.occurred_at < until and (start <= event.occurred_at or events.event_type(event) in REGISTRY_TYPES):
            yield LogEntry(record.partition, record.offset, index, event, origin)
