"""Producers writing straight to Kafka, on the real stack: a librdkafka client with its default
partitioner (CRC32, not Kafka's murmur2), a producer claiming its own `received_at`, and one
stamping its records an hour ahead. Each gets what a post over HTTP gets, and none can judge
anyone else's records early."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from streams.topics import partition_for
from tests import factories
from tests.conftest import StackClient, wait_until

pytestmark = pytest.mark.e2e
ENTERPRISE = "ent-out"


def now() -> datetime:
    return datetime.now(factories.SHANGHAI)


def sites_where(predicate: Any, count: int, prefix: str) -> list[str]:
    found: list[str] = []
    number = 0
    while len(found) < count:
        name = f"{prefix}-{number:03d}"
        if predicate(name):
            found.append(name)
        number += 1
    return found


def produce(stack: StackClient, bodies: list[dict[str, Any]], **config: Any) -> list[int]:
    """Produce each body keyed by its site, as an outside producer would; the partitions Kafka took."""
    producer = Producer({"bootstrap.servers": stack.settings.kafka_bootstrap, "acks": "all", **config})
    placed: list[int] = []

    def delivered(error: Any, message: Any) -> None:
        assert error is None, error
        placed.append(message.partition())

    for body in bodies:
        producer.produce(
            stack.settings.topic_events, key=body["site_id"].encode(), value=orjson.dumps(body), on_delivery=delivered
        )
    assert producer.flush(30) == 0
    return placed


def outcomes(stack: StackClient, site_id: str) -> dict[tuple[str, str], str]:
    rows = stack.query(
        "SELECT rule_id, subject_id, argMax(alert_type, alert_type = 'alert.resolved') AS last, "
        "anyIf(late_reason, alert_type = 'alert.resolved') AS reason "
        f"FROM alerts FINAL WHERE site_id = '{site_id}' GROUP BY rule_id, subject_id"
    )
    return {(row["rule_id"], row["subject_id"]): row["reason"] or row["last"] for row in rows}


def register(stack: StackClient, token: str, *site_ids: str) -> None:
    sites = [
        factories.site_registered(enterprise=ENTERPRISE, site=site, at=now() - timedelta(days=2)) for site in site_ids
    ]
    assert stack.post(sites, token)[0] == 202


def sentinel(stack: StackClient, token: str, site_id: str, enterprise: str = ENTERPRISE) -> None:
    """A record over HTTP, waited for: what was produced before it on that partition is stored."""
    body = factories.health_checked(enterprise=enterprise, site=site_id, at=now())
    assert stack.post(body, token)[0] == 202
    wait_until(lambda: stack.scalar(f"SELECT count() FROM raw_events WHERE event_id = '{body['event_id']}'") == 1)


def test_a_librdkafka_producer_with_its_default_partitioner_gets_what_http_gets(running_stack: StackClient) -> None:
    stack, partitions = running_stack, running_stack.settings.topic_partitions
    token = stack.create_enterprise(ENTERPRISE)

    def crc32_elsewhere(name: str) -> bool:
        return zlib.crc32(name.encode()) % partitions != partition_for(name.encode(), partitions)

    over_http, over_kafka = sites_where(crc32_elsewhere, 2, "out-site")
    register(stack, token, over_http, over_kafka)
    received_at = now() - timedelta(hours=3)
    for site in (over_http, over_kafka):  # an imported batch, its receipt posted over HTTP: due an hour later
        receipt = factories.parcels_received(
            batch=f"{site}-B", origin="imported", enterprise=ENTERPRISE, site=site, at=received_at
        )
        assert stack.post(receipt, token)[0] == 202
    for site in (over_http, over_kafka):  # raised: no disinfection on record yet
        raised = {("DIS-IMPORT", f"{site}-B"): "alert.raised"}

        def stands(site: str = site, raised: dict[tuple[str, str], str] = raised) -> bool:
            return outcomes(stack, site) == raised

        wait_until(stands)

    # The disinfection, done in time: over HTTP for one site, straight to Kafka for the other.
    def disinfection(site: str) -> dict[str, Any]:
        return factories.parcels_disinfected(
            batch=f"{site}-B", enterprise=ENTERPRISE, site=site, at=received_at + timedelta(minutes=20)
        )

    assert stack.post(disinfection(over_http), token)[0] == 202
    kafka_body = disinfection(over_kafka)
    [landed] = produce(stack, [kafka_body])
    assert landed != partition_for(over_kafka.encode(), partitions)  # CRC32 put it on another partition

    expected = {("DIS-IMPORT", f"{over_http}-B"): "record_after_deadline"}
    wait_until(lambda: outcomes(stack, over_http) == expected)
    wait_until(lambda: outcomes(stack, over_kafka) == {("DIS-IMPORT", f"{over_kafka}-B"): "record_after_deadline"})
    sentinel(stack, token, over_kafka)  # stored after the copy: the copy is stored too
    stored = stack.query(f"SELECT kafka_partition AS p FROM raw_events WHERE event_id = '{kafka_body['event_id']}'")
    assert stored == [{"p": partition_for(over_kafka.encode(), partitions)}]  # stored once, from its site's partition


def test_a_producers_own_received_at_does_not_hide_a_late_record(running_stack: StackClient) -> None:
    stack = running_stack
    token = stack.create_enterprise(ENTERPRISE + "-2")
    [site] = sites_where(lambda name: True, 1, "claims-site")
    body = factories.site_registered(enterprise=ENTERPRISE + "-2", site=site, at=now() - timedelta(days=5))
    assert stack.post(body, token)[0] == 202
    occurred = now() - timedelta(days=3)
    check = factories.health_checked(enterprise=ENTERPRISE + "-2", site=site, at=occurred)
    check["received_at"] = (occurred + timedelta(minutes=1)).isoformat()  # "we had it on time"
    produce(stack, [check], partitioner="murmur2_random")
    wait_until(lambda: ("LEDGER-LATE", occurred.strftime("%Y-%m-%d")) in outcomes(stack, site))
    sentinel(stack, token, site, ENTERPRISE + "-2")
    received = stack.scalar(
        f"SELECT toUnixTimestamp(received_at) FROM raw_events WHERE event_id = '{check['event_id']}'"
    )
    assert abs(received - now().timestamp()) < 120  # when Kafka appended it, not the claim


def test_a_record_stamped_an_hour_ahead_is_parked_and_fires_nothing_early(running_stack: StackClient) -> None:
    stack, partitions = running_stack, running_stack.settings.topic_partitions
    token = stack.create_enterprise(ENTERPRISE + "-3")
    # Another company's site, and the producer's own, on one partition.
    victim, own = sites_where(lambda name: partition_for(name.encode(), partitions) == 0, 2, "clock-site")
    for site in (victim, own):
        body = factories.site_registered(enterprise=ENTERPRISE + "-3", site=site, at=now() - timedelta(days=2))
        assert stack.post(body, token)[0] == 202
    due_in_50_min = factories.parcels_received(
        batch="V-B", enterprise=ENTERPRISE + "-3", site=victim, at=now() - timedelta(hours=3, minutes=10)
    )
    assert stack.post(due_in_50_min, token)[0] == 202
    ahead = now() + timedelta(minutes=59)
    future = factories.health_checked(enterprise=ENTERPRISE + "-3", site=own, at=ahead - timedelta(minutes=1))
    producer = Producer({"bootstrap.servers": stack.settings.kafka_bootstrap, "partitioner": "murmur2_random"})
    producer.produce(
        stack.settings.topic_events,
        key=own.encode(),
        value=orjson.dumps(future),
        timestamp=int(ahead.timestamp() * 1000),
    )
    assert producer.flush(30) == 0
    wait_until(
        lambda: (
            stack.query(
                "SELECT field, reason FROM dead_letters FINAL WHERE topic = "
                f"'{stack.settings.topic_events}' AND event_id = '{future['event_id']}'"
            )
            != []
        )
    )
    [letter] = stack.query(f"SELECT field, reason FROM dead_letters FINAL WHERE event_id = '{future['event_id']}'")
    assert letter["field"] == "occurred_at"
    assert "in the future" in letter["reason"]
    sentinel(stack, token, own, ENTERPRISE + "-3")
    assert outcomes(stack, victim) == {}  # its batch is due in 50 minutes, not now
