"""`make run`'s stack on one data directory: a second start refuses and touches nothing of the
first; Kafka is watched like the other processes; /health says when Kafka is unreachable."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from deploy.kafka_broker import free_port_pair
from deploy.stack import LocalStack, ServiceError
from tests.conftest import stack_settings, wait_until

pytestmark = pytest.mark.e2e


def health(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except urllib.error.URLError:
        return 0, {}  # not listening


@pytest.fixture
def first(tmp_path) -> Iterator[LocalStack]:
    settings = stack_settings(f"127.0.0.1:{free_port_pair()}", tmp_path)
    stack = LocalStack.from_settings(settings).start()
    yield stack
    stack.stop()


def test_a_second_start_on_the_same_directory_refuses_and_leaves_the_first_running(first: LocalStack) -> None:
    assert first.broker is not None
    broker_pid = first.broker.process.pid if first.broker.process else None
    second = LocalStack.from_settings(first.settings)
    with pytest.raises(ServiceError, match="already running") as refused:
        second.start()
    assert "pid" in str(refused.value)
    second.stop()  # as `make run` does after a failed start: it must stop nothing of the first
    assert first.broker.running
    assert first.broker.process is not None
    assert first.broker.process.pid == broker_pid
    assert health(first.services["ingest"].health_url) == (200, {"status": "ok", "kafka": "ok"})


def test_kafka_is_watched_and_health_says_when_it_is_unreachable(first: LocalStack) -> None:
    assert first.broker is not None
    first.broker.stop(signal.SIGKILL)
    assert "kafka" in [down.name for down in first.dead()]
    status, body = health(first.services["ingest"].health_url)
    assert (status, body.get("kafka", "").startswith("unreachable")) == (503, True)
    worker = first.services["worker"]  # says so too, unless it ends itself (faust does): then it is in `dead()`
    wait_until(lambda: health(worker.health_url) == (503, {"status": "unavailable", "kafka": "unreachable"})
               or not worker.running)  # fmt: skip
    revived = dict(first.revive())
    assert "kafka" in revived
    assert first.broker.running
    for service in first.services.values():

        def answers(url: str = service.health_url) -> bool:
            return health(url)[0] == 200

        wait_until(answers)
