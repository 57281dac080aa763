"""The project's Kafka topics: created when missing (idempotent), and which partition a site's events take."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from deploy.settings import Settings

T = TypeVar("T")


def ensure_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="tongfang-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication)
            for name in (
                settings.topic_events,
                settings.topic_deadletter,
                settings.topic_alerts,
                settings.topic_vehicles,
                settings.topic_deliveries,
            )
            if name not in existing
        ]
        if wanted:
            # Another process may create them between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
    finally:
        admin.close()


@lru_cache(maxsize=1 << 16)  # murmur2 is pure Python; a city has thousands of sites, not millions
def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java's and kafka-python's) gives `key`: events
    grouped into one record per partition land where keyed records of each site would."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def by_partition(items: Iterable[T], site_of: Callable[[T], str], partitions: int) -> dict[int, list[T]]:
    """`items` grouped by their site's partition, each group in the given order: the events of one
    request (or one simulated batch) in one record per partition."""
    groups: dict[int, list[T]] = {}
    for item in items:
        groups.setdefault(partition_for(site_of(item).encode(), partitions), []).append(item)
    return groups
