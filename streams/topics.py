"""The project's Kafka topics: created when missing (idempotent), and which partition a site's events take."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from streams.settings import Settings

T = TypeVar("T")


# The events topic's records carry the broker's clock: when a record was appended is when the
# system had it (`streams.placement`), whatever the producer stamps.
EVENTS_CONFIG = {"message.timestamp.type": "LogAppendTime"}


def ensure_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="tongfang-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                settings.topic_partitions,
                settings.topic_replication,
                topic_configs=EVENTS_CONFIG if name == settings.topic_events else {},
            )
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
        if settings.topic_events in existing:
            _append_time(admin, settings.topic_events)
    finally:
        admin.close()


def _append_time(admin: KafkaAdminClient, topic: str) -> None:
    """Switch a topic made before `EVENTS_CONFIG` to the broker's clock (once: it is kept)."""
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    current = described.get("topic", {}).get(topic, {}).get("message.timestamp.type", {}).get("value")
    if current != EVENTS_CONFIG["message.timestamp.type"]:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=EVENTS_CONFIG)])


def kafka_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """Whether a broker of `bootstrap` accepts a connection (what /health reports)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        with contextlib.suppress(OSError), socket.create_connection((host or "127.0.0.1", int(port)), timeout):
            return True
    return False


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
