"""Fixtures that start real services: a Kafka 4 broker from the official jars, chDB on disk, and
the stack's own processes on free loopback ports, stopped by PID afterwards."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from deploy.kafka_broker import KafkaBroker, free_port
from deploy.stack import LocalStack
from services.registry import Registry
from streams.settings import Settings
from streams.warehouse import ChdbWarehouse, migrate, reader_authorization


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbWarehouse]:
    """The test process's one chDB (chDB allows one data path per process)."""
    store = ChdbWarehouse(tmp_path_factory.mktemp("chdb"))
    migrate(store)
    yield store
    store.close()


def truncate(warehouse: ChdbWarehouse) -> ChdbWarehouse:
    tables = warehouse.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
    )
    for row in tables:
        warehouse.execute(f"TRUNCATE TABLE {row['name']}")
    return warehouse


@pytest.fixture
def clean_warehouse(warehouse: ChdbWarehouse) -> ChdbWarehouse:
    return truncate(warehouse)


@pytest.fixture(scope="module")
def seeded(warehouse: ChdbWarehouse) -> ChdbWarehouse:
    """The warehouse holding tests/seed.py's day: events through the sink, alerts from the rules."""
    from tests.seed import seed

    counts = seed(truncate(warehouse))
    assert counts["alerts"] > 20
    return warehouse


def stack_settings(bootstrap: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for one isolated stack: its own topics, ports and data directory."""
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        data_dir=data_dir,
        kafka_bootstrap=bootstrap,
        topic_events=f"events-{suffix}",
        topic_deadletter=f"deadletter-{suffix}",
        topic_alerts=f"alerts-{suffix}",
        topic_vehicles=f"vehicles-{suffix}",
        topic_deliveries=f"deliveries-{suffix}",
        ingest_port=free_port(),
        worker_web_port=free_port(),
        notify_port=free_port(),
        regulator_port=free_port(),
        sink_flush_seconds=0.2,
        max_event_age_days=100_000,  # the factories' events are dated 2026-11-23, whenever the tests run
        worker_group=f"worker-{suffix}",
        notify_group=f"notify-{suffix}",
        **overrides,
    )


def json_response(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    """The status and the JSON body of a call to one of the stack's services, refusals included."""
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


class StackClient:
    """Drives a running stack the way a user does: HTTP to ingest, SQL through the worker."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.settings = stack.settings

    def create_enterprise(self, enterprise_id: str) -> str:
        registry = Registry(self.settings.ingest_db_path)
        try:
            return registry.create_enterprise(enterprise_id, f"{enterprise_id} 快递")
        finally:
            registry.close()

    def post(
        self, body: Any, token: str | None, content_type: str = "application/json", query: str = ""
    ) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = f"http://{self.settings.ingest_host}:{self.settings.ingest_port}/v1/events{query}"
        return json_response(urllib.request.Request(url, data=data, headers=headers, method="POST"))

    def query(self, sql: str) -> list[dict[str, Any]]:
        status, body = self.query_response(sql)
        if status != 200:
            raise AssertionError(f"the worker refused the query ({status}): {body.get('error')}")
        rows: list[dict[str, Any]] = body["rows"]
        return rows

    def query_response(
        self, sql: str, *, authorization: str | None = None, **params: str
    ) -> tuple[int, dict[str, Any]]:
        """GET /query on the worker as its reader (or with `authorization`): the status and the JSON
        body, refusals included."""
        url = f"http://{self.settings.worker_web_host}:{self.settings.worker_web_port}/query?" + (
            urllib.parse.urlencode({"sql": sql, **params})
        )
        header = reader_authorization(self.settings) if authorization is None else authorization
        return json_response(urllib.request.Request(url, headers={"Authorization": header}))

    def scalar(self, sql: str) -> Any:
        row = self.query(sql)[0]
        return next(iter(row.values()))


def wait_until(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.0f} s (last value: {value!r})")


@pytest.fixture(scope="module")
def running_stack(kafka: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackClient]:
    """Worker and ingest against the session broker, shared by the tests of one module."""
    stack = LocalStack.from_settings(stack_settings(kafka.bootstrap, tmp_path_factory.mktemp("stack")), own_kafka=False)
    stack.start()
    yield StackClient(stack)
    stack.stop()
