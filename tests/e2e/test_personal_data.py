"""After a simulated day through the stack, no ID-card number or phone number is anywhere:
not in any ClickHouse table, not on any Kafka topic, not in any log."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import pytest
from kafka import KafkaConsumer

from deploy.simulate import to_http
from deploy.simulator import SHANGHAI, City
from tests.conftest import StackClient, wait_until
from tests.support.kafka import topic_records

pytestmark = pytest.mark.e2e
ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
    r"(?![0-9A-Za-z])"
)
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")


def personal(text: str) -> list[str]:
    return ID_NUMBER.findall(text) + MOBILE.findall(text)


def test_the_scanner_finds_what_it_looks_for():
    assert personal("员工 11010519491231002X 电话 13912345678") == ["11010519491231002X", "13912345678"]
    assert personal("ps_0123456789abcdef0123456789abcdef 1795406400000 2026-11-23") == []


def test_no_id_or_phone_number_anywhere_after_a_simulated_day(running_stack: StackClient):
    settings = running_stack.settings
    city = City(seed=9, sites=20)
    start = datetime.now(SHANGHAI) - timedelta(hours=20)
    day = [*city.registrations(start - timedelta(hours=1)), *city.events(start, 20)]
    accepted = asyncio.run(to_http(settings, city, day, rate=0, size=500))
    assert accepted == len(day) > 300  # every simulated event is valid; how many depends on the hour
    wait_until(lambda: running_stack.scalar("SELECT count() FROM raw_events") >= accepted, timeout=120)

    tables = [row["name"] for row in running_stack.query("SHOW TABLES") if not row["name"].endswith("_mv")]
    assert {"raw_events", "staff", "staff_health_events", "alerts"} <= set(tables)
    for table in tables:
        found = personal(str(running_stack.query(f"SELECT * FROM {table}")))
        assert found == [], (table, found[:3])

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    topics = [
        t for t in consumer.topics() if settings.worker_group in t or t.startswith(settings.topic_events.split("-")[0])
    ]
    topics += [settings.topic_events, settings.topic_alerts, settings.topic_vehicles, settings.topic_deadletter]
    scanned = 0
    for topic in set(topics):
        for record in topic_records(consumer, topic):
            scanned += 1
            text = (record.value or b"").decode("utf-8", "replace")
            assert personal(text) == [], (topic, personal(text)[:3])
    consumer.close()
    assert scanned > accepted / 500

    for log in (settings.data_dir / "logs").glob("*.log"):
        assert personal(log.read_text(errors="replace")) == [], log.name
