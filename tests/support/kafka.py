"""Reading a topic whole, as a replay would: every partition from its start to its end now."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def topic_records(consumer: KafkaConsumer, topic: str) -> Iterator[Any]:
    """Every record of `topic` up to the end offsets seen when called, partition by partition in order."""
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(partitions)
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
            yield from records
