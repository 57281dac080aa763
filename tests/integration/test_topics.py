"""The events topic keeps the broker's clock (LogAppendTime), also when it was made before that."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from streams.topics import ensure_topics
from tests.conftest import stack_settings, wait_until


def timestamp_type(admin: KafkaAdminClient, topic: str) -> str:
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    return str(described["topic"][topic]["message.timestamp.type"]["value"])


def test_the_events_topic_is_made_with_and_switched_to_log_append_time(kafka, tmp_path):
    made = stack_settings(kafka.bootstrap, tmp_path / "made")
    older = stack_settings(kafka.bootstrap, tmp_path / "older")
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(older.topic_events, 2, 1)])  # as ensure_topics made it before
        assert timestamp_type(admin, older.topic_events) == "CreateTime"
        ensure_topics(made)
        ensure_topics(older)
        assert timestamp_type(admin, made.topic_events) == "LogAppendTime"
        wait_until(lambda: timestamp_type(admin, older.topic_events) == "LogAppendTime")  # applied in a moment
        assert timestamp_type(admin, made.topic_alerts) == "CreateTime"  # only the events topic
    finally:
        admin.close()
