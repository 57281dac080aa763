"""The stack as a user drives it: HTTP in, Kafka, faust, chDB, queried through the worker."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from confluent_kafka import Producer

from streams.warehouse import WorkerReader
from tests import factories
from tests.conftest import StackClient, wait_until
from tests.support.measure import Visibility, sink_batches

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def token(running_stack: StackClient) -> str:
    token = running_stack.create_enterprise("ent-a")
    status, body = running_stack.post(
        [factories.site_registered(site="site-a1"), factories.site_registered(site="site-a2", division="330109")],
        token,
    )
    assert (status, body["accepted"]) == (202, 2)
    return token


def stored(client: StackClient, *event_ids: str) -> int:
    ids = ", ".join(f"'{event_id}'" for event_id in event_ids)
    return int(client.scalar(f"SELECT count() AS n FROM raw_events WHERE event_id IN ({ids})"))


def sentinel(client: StackClient, token: str) -> None:
    """Post one good event and wait for it, so everything posted before it has been processed."""
    body = factories.health_checked()
    assert client.post(body, token)[0] == 202
    wait_until(lambda: stored(client, body["event_id"]) == 1)


def test_posted_batch_lands_in_raw_and_typed_tables(running_stack, token):
    batch = [
        factories.parcels_received(batch="B-100", count=300, origin="imported"),
        factories.parcels_disinfected(batch="B-100", count=300),
        factories.health_checked(temperature=37.8, site="site-a2"),
    ]
    status, body = running_stack.post(batch, token)
    assert status == 202
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    wait_until(lambda: stored(running_stack, *(e["event_id"] for e in batch)) == 3)
    parcels = running_stack.query(
        "SELECT event_type, item_count, origin, division_code FROM parcel_events "
        "WHERE batch_id = 'B-100' ORDER BY event_type"
    )
    assert parcels == [
        {"event_type": "parcels.disinfected", "item_count": 300, "origin": "", "division_code": "330106"},
        {"event_type": "parcels.received", "item_count": 300, "origin": "imported", "division_code": "330106"},
    ]
    health = running_stack.query(
        f"SELECT temperature, division_code FROM staff_health_events WHERE event_id = '{batch[2]['event_id']}'"
    )
    assert health == [{"temperature": 37.8, "division_code": "330109"}]


def test_same_event_posted_twice_is_reported_duplicate_and_stored_once(running_stack, token):
    body = factories.parcels_received(batch="B-dup")
    assert running_stack.post(body, token)[1]["results"][0]["status"] == "accepted"
    status, again = running_stack.post(body, token)
    assert (status, again["results"][0]["status"], again["duplicates"]) == (202, "duplicate", 1)
    sentinel(running_stack, token)
    assert stored(running_stack, body["event_id"]) == 1


def test_invalid_event_is_422_naming_the_field_and_nothing_is_stored(running_stack, token):
    body = factories.health_checked(temperature=46.2)
    status, answer = running_stack.post(body, token)
    assert status == 422
    assert answer["results"][0]["field"] == "payload.temperature"
    assert "45.0" in answer["results"][0]["reason"]
    status, answer = running_stack.post(b'{"event_id": ', token)
    assert (status, answer["field"]) == (422, "$")
    sentinel(running_stack, token)
    assert stored(running_stack, body["event_id"]) == 0


def test_wrong_token_is_401_and_another_enterprises_site_is_403_and_nothing_is_stored(running_stack, token):
    body = factories.parcels_received()
    status, answer = running_stack.post(body, "tf_not-a-real-token")
    assert (status, answer["field"]) == (401, "Authorization")
    assert running_stack.post(body, None)[0] == 401

    other = running_stack.create_enterprise("ent-b")
    intruding = factories.parcels_received(enterprise="ent-b", site="site-a1")
    status, answer = running_stack.post(intruding, other)
    assert (status, answer["results"][0]["field"]) == (403, "site_id")
    pretending = factories.parcels_received(enterprise="ent-a", site="site-a1")
    status, answer = running_stack.post(pretending, other)
    assert (status, answer["results"][0]["field"]) == (403, "enterprise_id")
    sentinel(running_stack, token)
    assert stored(running_stack, body["event_id"], intruding["event_id"], pretending["event_id"]) == 0


def test_limits_and_content_type_are_enforced_with_clear_errors(running_stack, token):
    limit = running_stack.settings.ingest_max_events
    too_many = [factories.health_checked() for _ in range(limit + 1)]
    status, answer = running_stack.post(too_many, token)
    assert status == 413
    assert str(limit) in answer["reason"]
    huge = b"[" + b" " * running_stack.settings.ingest_max_body_bytes + b"]"
    assert running_stack.post(huge, token)[0] == 413
    status, answer = running_stack.post(factories.health_checked(), token, content_type="text/plain")
    assert (status, answer["field"]) == (415, "Content-Type")


def test_third_party_kafka_producer_events_are_stored_and_bad_records_dead_lettered(running_stack, token):
    settings = running_stack.settings
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all", "message.max.bytes": 8_000_000})
    good = factories.parcels_received(batch="B-kafka")
    batch = [factories.parcels_disinfected(batch="B-kafka"), factories.health_checked(site="site-a2")]
    malformed = b'{"event_type": "parcels.received", "payload": '
    wrong_shape = orjson.dumps({**factories.parcels_received(), "payload": {"batch_id": "B-x", "item_count": "many"}})
    hostile = [
        bytes(range(256)) * 4,  # garbage bytes
        orjson.dumps(factories.health_checked()).decode().encode("utf-16"),  # wrong encoding
        b"[1, 2, 3]",  # valid JSON of the wrong type
        b'"just a string"',
        b'{"event_id": ' + b'"' + b"x" * 3_000_000 + b'"}',  # oversize
    ]
    values = [orjson.dumps(good), orjson.dumps(batch), malformed, wrong_shape, *hostile, orjson.dumps(good)]
    for value in values:
        producer.produce(settings.topic_events, key=b"site-a1", value=value)
    assert producer.flush(30) == 0

    ids = [good["event_id"], *(e["event_id"] for e in batch)]
    wait_until(lambda: stored(running_stack, *ids) == 3)

    def dead_letters() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = running_stack.query(
            "SELECT field, reason FROM dead_letters FINAL WHERE topic = "
            f"'{settings.topic_events}' ORDER BY kafka_offset, record_index"
        )
        return rows

    parked = wait_until(lambda: len(rows := dead_letters()) >= 9 and rows)
    assert [p["field"] for p in parked][:2] == ["$", "payload.item_count"]
    assert "not valid JSON" in parked[0]["reason"]
    assert len(parked) == 9  # malformed, wrong shape, garbage, UTF-16, [1, 2, 3] (three), a string, oversize
    assert all(p["reason"] for p in parked)
    sentinel(running_stack, token)
    assert stored(running_stack, good["event_id"]) == 1, "the repeated Kafka record must be stored once"


def test_openapi_document_describes_the_events_endpoint(running_stack):
    import urllib.request

    url = f"http://127.0.0.1:{running_stack.settings.ingest_port}/openapi.json"
    with urllib.request.urlopen(url) as response:
        document = orjson.loads(response.read())
    assert "/v1/events" in document["paths"]
    assert "ParcelsReceived" in document["components"]["schemas"]
    assert uuid.UUID(factories.parcels_received()["event_id"])


def test_the_bench_sees_posted_events_become_queryable_after_their_insert_began(running_stack, token):
    since = int(time.time() * 1000)
    condition = f"received_at >= fromUnixTimestamp64Milli({since})"
    batch = [factories.health_checked() for _ in range(20)]
    batches_before = sink_batches(running_stack.settings)
    with Visibility(WorkerReader(running_stack.settings, after_inserts=True), condition, every=0.05) as visible:
        assert running_stack.post(batch, token)[0] == 202
        wait_until(lambda: stored(running_stack, *(e["event_id"] for e in batch)) == 20, interval=0.05)
        done = int(time.time() * 1000)
    latencies = visible.latencies()
    assert sum(events for _, _, events in latencies) == 20
    # The bench counts the worker's stored batches from its /stats page: these 20 events made at least one.
    assert sink_batches(running_stack.settings) > batches_before
    began = {
        row["received"]: row["began"]
        for row in running_stack.query(
            "SELECT toUnixTimestamp64Milli(received_at) AS received, "
            f"toUnixTimestamp64Milli(stored_at) - received AS began FROM raw_events WHERE {condition}"
        )
    }
    for received, queryable, _ in latencies:
        # After its insert began (stored_at), by at least the insert; not after the events were counted.
        assert began[received] < queryable <= done - received + 50


def test_the_workers_reads_may_not_touch_its_machine_nor_write(running_stack, tmp_path):
    target = tmp_path / "out.csv"
    status, body = running_stack.query_response(f"SELECT 1 INTO OUTFILE '{target}'")
    assert (status, body["error"]) == (400, "sql: INTO OUTFILE would write a file on the worker's machine")
    assert not target.exists()
    status, body = running_stack.query_response("SELECT count() AS n FROM file('/etc/hostname', 'LineAsString')")
    assert status == 400
    assert "readonly mode" in str(body["error"])
    status, body = running_stack.query_response("SELECT 1 AS one SETTINGS readonly = 0")
    assert status == 400
    assert "readonly" in str(body["error"])


def test_the_worker_answers_reads_with_and_without_after_inserts(running_stack, token):
    body = factories.health_checked()
    assert running_stack.post(body, token)[0] == 202
    wait_until(lambda: stored(running_stack, body["event_id"]) == 1)
    sql = f"SELECT count() AS n FROM staff_health_events WHERE event_id = '{body['event_id']}'"
    assert running_stack.query_response(sql) == (200, {"rows": [{"n": 1}]})
    assert running_stack.query_response(sql, after_inserts="1") == (200, {"rows": [{"n": 1}]})
