"""Faults while a city streams in: nothing accepted is lost, nothing is stored twice.

The client behaves as an enterprise's system should: it resends whatever was not acknowledged
(503, or no answer) with the same event ids, and keeps what the API accepted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from deploy.kafka_broker import free_port_pair
from deploy.simulator import SHANGHAI, City
from deploy.stack import LocalStack
from streams.compliance.catalogue import load
from tests.conftest import StackClient, stack_settings, wait_until

pytestmark = pytest.mark.e2e


class Client:
    def __init__(self, stack: LocalStack, tokens: dict[str, str]) -> None:
        self.stack, self.tokens = stack, tokens
        self.accepted: set[str] = set()

    def post(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Post one enterprise's events; return those to send again."""
        settings = self.stack.settings
        request = urllib.request.Request(
            f"http://127.0.0.1:{settings.ingest_port}/v1/events",
            data=orjson.dumps(batch),
            headers={
                "Authorization": f"Bearer {self.tokens[batch[0]['enterprise_id']]}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                results = orjson.loads(response.read())["results"]
        except urllib.error.HTTPError as exc:
            results = orjson.loads(exc.read()).get("results", [])
            if not results:
                return batch
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return batch
        again = []
        for body, result in zip(batch, results, strict=True):
            if result["status"] in ("accepted", "duplicate"):
                self.accepted.add(body["event_id"])
            elif result["status"] == "failed":
                again.append(body)
            else:
                raise AssertionError(f"the simulator sent an invalid event: {result}")
        return again

    def send(self, events: list[dict[str, Any]], size: int = 200) -> list[dict[str, Any]]:
        pending = []
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            for enterprise in sorted({e["enterprise_id"] for e in chunk}):
                pending += self.post([e for e in chunk if e["enterprise_id"] == enterprise])
        return pending


def replay(stack: LocalStack, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Every alert an uninterrupted run over the Kafka log gives (`tongfang replay`)."""
    command = [sys.executable, "-m", "services.cli", "replay", "--source", "kafka", "--jsonl"]
    command += ["--since", since.isoformat(), "--until", until.isoformat()]
    env = {**os.environ, **stack.environment()}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def settled_site_alerts(alerts: list[dict[str, Any]], settled: datetime) -> dict[str, dict[str, Any]]:
    """Raised site-rule alerts whose deadline is before `settled`, by id."""
    return {
        alert["alert_id"]: alert
        for alert in alerts
        if alert["alert_type"] == "alert.raised"
        and not alert["rule_id"].startswith("VEH-")
        and alert["deadline"]
        and datetime.fromisoformat(alert["deadline"]) < settled
    }


def differences(reader: StackClient, live: set[str], replayed: dict[str, Any], everything: list[dict[str, Any]]) -> str:
    """The alerts only one side raised, in full, with the replay's alerts on the same subject."""
    lines = [f"replay only: {replayed[alert_id]}" for alert_id in sorted(set(replayed) - live)]
    only_live = ", ".join(f"'{alert_id}'" for alert_id in sorted(live - set(replayed)))
    if only_live:
        rows = reader.query(
            "SELECT toString(alert_id) AS id, rule_id, site_id, subject_id, toString(at) AS at, "
            "toString(deadline) AS deadline, evidence, details FROM alerts "
            f"WHERE alert_type = 'alert.raised' AND toString(alert_id) IN ({only_live})"
        )
        for row in rows:
            lines.append(f"live only: {row}")
            same = [a for a in everything if (a["rule_id"], a["subject_id"]) == (row["rule_id"], row["subject_id"])]
            lines += [f"    replay on that subject: {alert}" for alert in same]
    return "\n".join(lines)


def test_worker_kill_broker_kill_and_stack_restart_lose_and_double_nothing(tmp_path):
    settings = stack_settings(f"127.0.0.1:{free_port_pair()}", tmp_path, sink_batch_records=50)
    city = City(seed=11, sites=20)
    start = datetime.now(SHANGHAI) - timedelta(hours=44)
    events = [*city.registrations(start - timedelta(hours=1)), *city.events(start, 44)]
    assert len(events) > 1000
    parts = [events[n * len(events) // 4 : (n + 1) * len(events) // 4] for n in range(4)]
    stack = LocalStack.from_settings(settings).start()
    try:
        tokens = {enterprise: StackClient(stack).create_enterprise(enterprise) for enterprise in city.enterprises}
        client = Client(stack, tokens)
        leftover = client.send(parts[0])

        stack.services["worker"].kill()  # 1. the worker dies mid-stream
        leftover = client.send(leftover + parts[1][: len(parts[1]) // 2])
        stack.services["worker"].start().wait_ready()

        assert stack.broker is not None
        stack.broker.stop(signal.SIGKILL)  # 2. the broker dies: a post fails (503) and is sent again later
        during = [e for e in parts[1][len(parts[1]) // 2 :] if e["enterprise_id"] == parts[1][-1]["enterprise_id"]]
        unacknowledged = client.post(during[:50])
        assert unacknowledged == during[:50], "nothing may be accepted while Kafka cannot acknowledge"
        leftover += unacknowledged + [e for e in parts[1][len(parts[1]) // 2 :] if e not in during[:50]]
        stack.broker.start()
        stack.revive()
        deadline = time.monotonic() + 120
        while leftover and time.monotonic() < deadline:
            leftover = client.send(leftover)

        stack.stop()  # 3. the whole stack stops and starts again on the same data
        stack = LocalStack.from_settings(settings).start()
        client.stack = stack
        leftover = client.send(leftover + parts[2] + parts[3])
        while leftover and time.monotonic() < deadline + 120:
            leftover = client.send(leftover)
        assert leftover == []

        reader = StackClient(stack)
        wait_until(lambda: reader.scalar("SELECT count() FROM raw_events") >= len(client.accepted), timeout=180)
        stored = {row["id"] for row in reader.query("SELECT toString(event_id) AS id FROM raw_events")}
        assert stored == client.accepted
        assert reader.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM raw_events") == [
            {"n": len(client.accepted), "ids": len(client.accepted)}
        ]
        # The site rules' alerts are those of an uninterrupted run over the same log (a replay from
        # Kafka), for every deadline the live watermark has certainly passed. (Vehicle rules are left
        # out: live, they follow the order records reach the vehicles topic; the replay sorts by event
        # time. With history posted behind the clock's ticks, a departure can reach a vehicle after a
        # tick carried its watermark past the dwell limit, and only the live run raises VEH-DWELL.)
        until = datetime.now(SHANGHAI)
        settled = until - load().allowed_lateness - timedelta(minutes=5)
        everything = replay(stack, start - timedelta(hours=2), until)
        replayed = settled_site_alerts(everything, settled)
        assert len(replayed) > 20

        def live() -> set[str]:
            rows = reader.query(
                "SELECT DISTINCT toString(alert_id) AS id FROM alerts WHERE alert_type = 'alert.raised' "
                f"AND toUnixTimestamp64Milli(deadline) < {int(settled.timestamp() * 1000)} AND rule_id NOT LIKE 'VEH-%'"
            )
            return {row["id"] for row in rows}

        deadline = time.monotonic() + 120
        while (seen := live()) != set(replayed) and time.monotonic() < deadline:
            time.sleep(1)
        assert seen == set(replayed), differences(reader, seen, replayed, everything)
        assert reader.scalar("SELECT count() - uniqExact(alert_id, alert_type) FROM alerts FINAL") == 0
    finally:
        stack.stop()
