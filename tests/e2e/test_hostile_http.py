"""Hostile input over HTTP: no answer >= 500, no invalid event stored, every 4xx names the field and the reason.

Hand-made cases first, then schemathesis generating requests from the service's own OpenAPI document.
"""

from __future__ import annotations

import base64
import json
import stat
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from services.ingest.openapi import openapi_document
from streams.settings import Settings
from streams.warehouse import chunks, id_set, reader_authorization
from tests import factories
from tests.conftest import StackClient, wait_until

pytestmark = pytest.mark.e2e

ID_NUMBER = "11010519491231002X"  # a well-formed 18-digit ID number (check digit X)
SQL = "'); DROP TABLE raw_events; -- \" OR 1=1 /*"


@pytest.fixture(scope="module")
def token(running_stack: StackClient) -> str:
    token = running_stack.create_enterprise("ent-a")
    status, _ = running_stack.post(factories.site_registered(site="site-a1"), token)
    assert status == 202
    return token


def send(request: urllib.request.Request) -> Answer:
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Answer(response.status, orjson.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, orjson.loads(exc.read()))


class Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body  # every answer, even an error, is JSON

    def faults(self) -> list[tuple[str, str]]:
        """(field, reason) of the request's fault, or of each refused event."""
        if "results" in self.body:
            return [(r["field"], r["reason"]) for r in self.body["results"] if r["status"] != "accepted"]
        return [(self.body["field"], self.body["reason"])]


def health(**payload: Any) -> dict[str, Any]:
    event = factories.health_checked()
    event["payload"] |= payload
    return event


def anomaly(description: str, **envelope: Any) -> dict[str, Any]:
    payload = {"category": "parcel_hazard", "description": description, "community": "文三新村"}
    return factories.event("anomaly.reported", payload) | envelope


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def raw(event: dict[str, Any], replace: dict[bytes, bytes]) -> bytes:
    body = orjson.dumps(event)
    for old, new in replace.items():
        assert old in body
        body = body.replace(old, new)
    return body


def cases() -> list[tuple[str, bytes, str, int, str]]:
    """(name, body, content type, expected status, expected field)."""
    json_ = "application/json"
    temp = health(temperature=36.6)
    big_int = factories.parcels_received(count=7)
    return [
        ("malformed JSON", b'{"event_id": "x", ', json_, 422, "$"),
        ("empty body", b"", json_, 422, "$"),
        ("JSON null", b"null", json_, 422, "$"),
        ("JSON number", b"42", json_, 422, "$"),
        ("wrong content type", orjson.dumps(factories.health_checked()), "text/plain", 415, "Content-Type"),
        ("form content type", b"event_id=1", "application/x-www-form-urlencoded", 415, "Content-Type"),
        ("huge string field", orjson.dumps(anomaly("x" * 9_000_000)), json_, 413, "$"),
        ("deeply nested array", b"[" * 50_000 + b"]" * 50_000, json_, 422, "$"),
        ("deeply nested payload", raw(health(extra=0), {b'"extra":0': b'"extra":' + nested(5_000)}), json_, 422, "$"),
        ("NaN", raw(temp, {b"36.6": b"NaN"}), json_, 422, "$"),
        ("Infinity", raw(temp, {b"36.6": b"Infinity"}), json_, 422, "$"),
        ("overflowing float", raw(temp, {b"36.6": b"1e999"}), json_, 422, "payload.temperature"),
        ("overflowing integer", raw(big_int, {b'"item_count":7': b'"item_count":' + b"9" * 40}), json_, 422, "payload"),
        ("invalid UTF-8", orjson.dumps(anomaly("abc")).replace(b"abc", b"a\xff\xfec"), json_, 422, "$"),
        ("lone surrogate", orjson.dumps(anomaly("abc")).replace(b"abc", b"a\\ud800c"), json_, 422, "$"),
        ("NUL in an id", orjson.dumps(factories.parcels_received(batch="B\u00001")), json_, 422, "payload.batch_id"),
        ("BOM before the body", b"\xef\xbb\xbf" + orjson.dumps(factories.health_checked()), json_, 422, "$"),
        (
            "far future",
            orjson.dumps(health() | {"occurred_at": "9999-12-31T23:59:59+08:00"}),
            json_,
            422,
            "occurred_at",
        ),
        ("far past", orjson.dumps(health() | {"occurred_at": "0001-01-01T00:00:00+00:00"}), json_, 422, "occurred_at"),
        ("no UTC offset", orjson.dumps(health() | {"occurred_at": "2026-11-23T08:00:00"}), json_, 422, "occurred_at"),
        ("negative count", orjson.dumps(factories.parcels_received(count=-5)), json_, 422, "payload.item_count"),
        ("zero count", orjson.dumps(factories.parcels_received(count=0)), json_, 422, "payload.item_count"),
        (
            "ID number in free text",
            orjson.dumps(anomaly(f"联系人身份证{ID_NUMBER}")),
            json_,
            422,
            "payload.description",
        ),
        (
            "ID number in an id",
            orjson.dumps(factories.parcels_received(batch=ID_NUMBER)),
            json_,
            422,
            "payload.batch_id",
        ),
        ("ID number as staff", orjson.dumps(health(staff_id=ID_NUMBER)), json_, 422, "payload.staff_id"),
        ("SQL as an id", orjson.dumps(factories.parcels_received(batch=SQL)), json_, 422, "payload.batch_id"),
        ("SQL as a site", orjson.dumps(factories.health_checked() | {"site_id": SQL}), json_, 422, "site_id"),
        ("unknown event type", orjson.dumps(health() | {"event_type": "parcels.eaten"}), json_, 422, "event_type"),
    ]


def test_hand_made_hostile_requests_are_refused_naming_field_and_reason(running_stack, token):
    refused_ids = []
    for name, body, content_type, status, field in cases():
        answer = Answer(*running_stack.post(body, token, content_type))
        assert answer.status == status, f"{name}: {answer.status} {answer.body}"
        faults = answer.faults()
        assert faults, name
        for at, reason in faults:
            assert at.startswith(field), f"{name}: field {at!r}, expected {field!r} ({reason})"
            assert len(reason) > 5, f"{name}: reason {reason!r}"
        refused_ids += [r["event_id"] for r in answer.body.get("results", []) if r.get("event_id")]

    # Free text that merely looks like SQL or holds odd unicode is data: accepted, stored verbatim.
    odd = [anomaly(SQL), anomaly("右\u202e左 零\u200b宽 😷 \U00020000 ")]
    answer = Answer(*running_stack.post(odd, token))
    assert answer.status == 202, answer.body
    odd_ids = [event["event_id"] for event in odd]
    wait_until(lambda: stored_count(running_stack, odd_ids) == 2)  # the check can see a stored id
    ids = ", ".join(f"'{event_id}'" for event_id in odd_ids)
    stored = running_stack.query(f"SELECT event_id, payload FROM raw_events WHERE event_id IN ({ids})")
    by_id = {row["event_id"]: orjson.loads(row["payload"]) for row in stored}
    assert [by_id[event["event_id"]]["description"] for event in odd] == [
        event["payload"]["description"] for event in odd
    ]

    assert stored_count(running_stack, refused_ids) == 0
    assert running_stack.scalar("SELECT count() FROM dead_letters") == 0  # refused at the door, not parked


# Generated from the document the service serves, valid and invalid by turns. schemathesis's pytest
# loader does not work with pytest 9, so its strategies are driven by hypothesis and sent with urllib.
DOCUMENT = schemathesis.openapi.from_dict(openapi_document(Settings()))
OPERATIONS = [
    (path, method.upper(), mode)
    for path, methods in DOCUMENT.raw_schema["paths"].items()
    for method in methods
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE or {"requestBody", "parameters"} & set(methods[method])
]


@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS)
def test_generated_requests_never_get_a_server_error_and_match_the_document(running_stack, token, path, method, mode):
    settings_ = running_stack.settings
    base_url = f"http://{settings_.ingest_host}:{settings_.ingest_port}"
    operation = DOCUMENT[path][method]
    documented = {int(code) for code in operation.definition.raw["responses"]} | {401, 413, 415, 429}
    refused: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        sent = case.as_transport_kwargs(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
        body = json.dumps(sent["json"]).encode() if "json" in sent else sent.get("data")  # ints past 64 bits too
        headers = {"Content-Type": "application/json", **{k: str(v) for k, v in sent["headers"].items()}}
        request = urllib.request.Request(sent["url"], data=body, headers=headers, method=sent["method"])
        answer = send(request)
        assert answer.status < 500, (answer.status, answer.body, body)
        assert answer.status in documented, (answer.status, answer.body)
        if answer.status >= 400:
            assert all(field and reason for field, reason in answer.faults()), answer.body
        for result in answer.body.get("results", []):
            if result["status"] == "accepted":
                raise AssertionError(f"a generated event for an unregistered site was accepted: {result}")
            if result.get("event_id"):
                refused.append(result["event_id"])

    check()
    assert stored_count(running_stack, refused) == 0


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError):
        return None


def stored_count(client: StackClient, event_ids: list[str]) -> int:
    """How many of these ids are stored; only a UUID can be (event_id is a UUID column)."""
    ids = sorted({str(parsed) for event_id in event_ids if (parsed := _uuid(event_id))})
    return sum(
        int(client.scalar(f"SELECT count() FROM raw_events WHERE event_id IN {id_set(chunk)}"))
        for chunk in chunks(ids, 100)  # GET /query: keep the URL short
    )


def test_the_workers_read_endpoints_answer_only_their_reader(running_stack, token):
    """`/query` and `/clickhouse` of the running worker: the reader password or nothing."""
    base = f"http://{running_stack.settings.worker_web_host}:{running_stack.settings.worker_web_port}"
    assert running_stack.query_response("SELECT 1 AS one") == (200, {"rows": [{"one": 1}]})
    for wrong in ["", "Basic " + base64.b64encode(b"reader:guess").decode()]:
        status, body = running_stack.query_response("SELECT 1 AS one", authorization=wrong)
        assert status == 401
        assert "Authentication failed" in body["error"]
    with urllib.request.urlopen(f"{base}/clickhouse/ping", timeout=5) as ping:
        assert ping.read() == b"Ok.\n"
    wait_until(lambda: running_stack.scalar("SELECT count() FROM raw_events WHERE site_id = 'site-a1'") > 0)
    sql = "SELECT count() FROM raw_events WHERE site_id = {site:String}"
    url = f"{base}/clickhouse/?" + urllib.parse.urlencode({"query": sql, "param_site": "site-a1"})
    reader = {"Authorization": reader_authorization(running_stack.settings)}
    with urllib.request.urlopen(urllib.request.Request(url, headers=reader), timeout=10) as answer:
        stored = running_stack.scalar("SELECT count() FROM raw_events WHERE site_id = 'site-a1'")
        assert int(answer.read()) == stored > 0
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["X-ClickHouse-Exception-Code"] == "516"


def test_what_the_stack_writes_is_its_owners_only(running_stack, token):
    """Token digests, chDB's files and the logs: the data directory and its files are not readable by others."""
    data = running_stack.settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0
    written = [data / "ingest.sqlite", data / "reader.key", *sorted((data / "logs").glob("*.log"))]
    written += [path for path in sorted(running_stack.settings.chdb_dir.rglob("*"))[:200] if path.is_file()]
    assert len(written) > 10
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode) & 0o077) for path in written} == {
        path.name: "0o0" for path in written
    }


def test_tongfang_sql_reads_through_the_worker_as_its_reader(running_stack, token, monkeypatch):
    from click.testing import CliRunner

    from services.cli import main

    monkeypatch.setenv("TONGFANG_DATA_DIR", str(running_stack.settings.data_dir))
    monkeypatch.setenv("TONGFANG_WORKER_WEB_PORT", str(running_stack.settings.worker_web_port))
    answered = CliRunner().invoke(main, ["sql", "SELECT 1 AS one"])
    assert (answered.exit_code, answered.output) == (0, '{"one":1}\n')
    refused = CliRunner().invoke(main, ["sql", "DROP TABLE raw_events"])
    assert refused.exit_code == 1
    assert "the worker refused the query: sql: one SELECT" in refused.output
