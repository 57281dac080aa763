"""Compliance end to end: events over HTTP -> rules in the worker -> alerts table and webhooks."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.stack import LocalStack
from streams.compliance.catalogue import DEFAULT_CATALOGUE
from tests import factories
from tests.conftest import StackClient, stack_settings, wait_until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e


def now() -> datetime:
    return datetime.now(factories.SHANGHAI)


def start_stack(kafka, tmp_path: Path, receiver: Receiver, catalogue: Path | None = None) -> StackClient:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        yaml.safe_dump(
            {
                "routes": [
                    {"name": "city-json", "url": f"{receiver.url}/json", "format": "json", "divisions": ["3301"]},
                    {
                        "name": "duty-robot",
                        "url": f"{receiver.url}/robot",
                        "format": "markdown",
                        "severities": ["critical"],
                    },
                    {"name": "elsewhere", "url": f"{receiver.url}/other", "divisions": ["4401"]},
                ]
            }
        )
    )
    settings = stack_settings(
        kafka.bootstrap,
        tmp_path,
        clock_tick_seconds=0.5,
        notify_routes=routes,
        rule_catalogue=catalogue,
    )
    stack = LocalStack.from_settings(settings, own_kafka=False)
    stack.start()
    return StackClient(stack)


def alerts(client: StackClient, batch: str) -> list[dict[str, Any]]:
    return client.query(
        "SELECT toString(alert_id) AS id, alert_type, rule_id, late, late_reason, division_code FROM alerts "
        f"WHERE subject_id = '{batch}' ORDER BY alert_type, at"
    )


def test_missing_disinfection_raises_alert_webhook_once_and_late_record_resolves(kafka, tmp_path):
    with Receiver() as receiver:
        client = start_stack(kafka, tmp_path, receiver)
        try:
            token = client.create_enterprise("ent-a")
            client.post(factories.site_registered(at=now() - timedelta(days=1)), token)
            receipt = factories.parcels_received(batch="IMP-1", origin="imported", at=now() - timedelta(hours=2))
            assert client.post(receipt, token)[0] == 202

            [raised] = wait_until(lambda: alerts(client, "IMP-1"))
            assert (raised["rule_id"], raised["alert_type"], raised["division_code"]) == (
                "DIS-IMPORT",
                "alert.raised",
                "330106",
            )
            wait_until(lambda: len(receiver.for_alert(raised["id"])) == 2)  # the city route and the duty robot
            robot = next(r for r in receiver.for_alert(raised["id"]) if r["path"] == "/robot")
            assert "进口邮件快件未按时消毒" in robot["body"]["markdown"]["content"]
            assert not [r for r in receiver.received if r["path"] == "/other"]

            # Disinfected 90 min ago (before the deadline an hour ago), recorded only now: a back-filled record.
            late = factories.parcels_disinfected(batch="IMP-1", at=now() - timedelta(minutes=90))
            assert client.post(late, token)[0] == 202
            rows = wait_until(lambda: len(alerts(client, "IMP-1")) == 2 and alerts(client, "IMP-1"))
            resolved = rows[1]
            assert (resolved["alert_type"], resolved["late"], resolved["late_reason"]) == (
                "alert.resolved",
                True,
                "record_after_deadline",
            )
            time.sleep(3)  # give any repeat a chance to show up
            raised_hooks = [r for r in receiver.for_alert(raised["id"]) if r["alert"].endswith("raised")]
            assert sorted(r["path"] for r in raised_hooks) == ["/json", "/robot"]
            deliveries = wait_until(
                lambda: client.query(
                    f"SELECT route, status FROM alert_deliveries FINAL WHERE toString(alert_id) = '{raised['id']}' "
                    "AND alert_type = 'alert.raised' ORDER BY route"
                )
            )
            assert deliveries == [
                {"route": "city-json", "status": "delivered"},
                {"route": "duty-robot", "status": "delivered"},
            ]
        finally:
            client.stack.stop()


def test_worker_restarted_between_receipt_and_deadline_raises_exactly_one_alert(kafka, tmp_path):
    catalogue = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    catalogue["allowed_lateness"] = "1s"
    catalogue["rules"]["DIS-IMPORT"]["normal"]["deadline"] = "20s"
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(catalogue, allow_unicode=True))
    with Receiver(fail_first=2) as receiver:  # the first two webhook attempts fail: retried with backoff
        client = start_stack(kafka, tmp_path, receiver, catalogue=path)
        try:
            token = client.create_enterprise("ent-a")
            client.post(factories.site_registered(at=now() - timedelta(days=1)), token)
            receipt = factories.parcels_received(batch="IMP-2", origin="imported", at=now())
            assert client.post(receipt, token)[0] == 202
            wait_until(lambda: client.scalar("SELECT count() FROM parcel_events WHERE batch_id = 'IMP-2'") == 1)
            time.sleep(2)  # the rules agent has folded the receipt; its state is in the changelog
            worker = client.stack.services["worker"]
            worker.kill()
            worker.start().wait_ready()
            rows = wait_until(lambda: alerts(client, "IMP-2"), timeout=90)
            time.sleep(5)
            rows = alerts(client, "IMP-2")
            assert [(r["rule_id"], r["alert_type"]) for r in rows] == [("DIS-IMPORT", "alert.raised")]
            hooks = wait_until(
                lambda: len(receiver.for_alert(rows[0]["id"])) >= 2 and receiver.for_alert(rows[0]["id"])
            )
            time.sleep(2)
            assert sorted(r["path"] for r in receiver.for_alert(rows[0]["id"])) == ["/json", "/robot"]
            assert hooks
        finally:
            client.stack.stop()


def test_replay_of_the_kafka_log_gives_the_same_alerts_as_the_live_worker(kafka, tmp_path):
    import os
    import subprocess
    import sys

    with Receiver() as receiver:
        client = start_stack(kafka, tmp_path, receiver)
        try:
            token = client.create_enterprise("ent-a")
            client.post(factories.site_registered(at=now() - timedelta(hours=12)), token)
            start = now() - timedelta(hours=10)
            batch = []
            for n in range(12):
                origin = "imported" if n % 2 else "domestic"
                batch.append(
                    factories.parcels_received(batch=f"R{n}", origin=origin, at=start + timedelta(minutes=n * 20))
                )
                if n % 3 == 0:
                    batch.append(
                        factories.parcels_disinfected(batch=f"R{n}", at=start + timedelta(minutes=n * 20 + 30))
                    )
            assert client.post(batch, token)[0] == 202
            expected = 8  # 12 batches, 4 disinfected in time
            live = wait_until(
                lambda: (
                    (
                        rows := client.query(
                            "SELECT toString(alert_id) AS id FROM alerts WHERE alert_type = 'alert.raised' "
                            "AND rule_id IN ('DIS-IMPORT', 'DIS-DOMESTIC') ORDER BY id"
                        )
                    )
                    and len(rows) == expected
                    and rows
                )
            )
            env = {**os.environ, **client.stack.environment()}
            for source in ("kafka", "warehouse"):
                command = [sys.executable, "-m", "services.cli", "replay", "--source", source, "--jsonl"]
                command += ["--since", (now() - timedelta(days=1)).isoformat(), "--until", now().isoformat()]
                result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                assert result.returncode == 0, result.stderr
                output = result.stdout
                replayed = sorted(
                    line.split('"alert_id":"')[1].split('"')[0]
                    for line in output.splitlines()
                    if '"alert.raised"' in line and ('"DIS-IMPORT"' in line or '"DIS-DOMESTIC"' in line)
                )
                assert replayed == [row["id"] for row in live], source
        finally:
            client.stack.stop()
