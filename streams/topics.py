"""Creates the project's Kafka topics when they are missing (idempotent)."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from deploy.settings import Settings


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
