"""The alert desk's API over the seeded warehouse: the jurisdiction's open alerts with their rule,
evidence and site; an action checked (CSRF, jurisdiction, note, due) before it is published; nothing
published when refused. Publishing through Kafka end to end is tests/e2e/test_alert_desk.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from schemas import events
from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import Console
from services.regulator.divisions import Divisions
from tests.factories import BASE_TIME, SHANGHAI
from tests.support.console import Client, Recorded, create_regulators, csrf_of, sign_in

pytestmark = pytest.mark.integration
Scenario = Callable[[Client], Awaitable[Any]]


@pytest.fixture
def desk(seeded, tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    tokens = create_regulators(registry)
    recorded = Recorded()

    def run(who: str, scenario: Scenario) -> Any:
        console = Console(registry, seeded, Boards.load(), Divisions.load(), clock=lambda: BASE_TIME)

        async def main() -> Any:
            app = create_app(registry, seeded, console=console, publisher=recorded)
            async with TestClient(TestServer(app), cookie_jar=CookieJar(unsafe=True)) as client:
                await sign_in(client, tokens[who])
                return await scenario(client)

        return asyncio.run(main())

    return {"run": run, "recorded": recorded}


def xiaoshan_critical(seeded) -> dict[str, Any]:
    rows: list[dict[str, Any]] = seeded.query(
        "SELECT toString(alert_id) AS id, site_id, enterprise_id, rule_id FROM alerts "
        "WHERE alert_type = 'alert.raised' AND division_code = '330109' AND severity = 'critical' "
        "AND length(evidence) > 0 ORDER BY at LIMIT 1"
    )
    return rows[0]


def test_the_desk_lists_only_the_jurisdictions_open_alerts_worst_first(desk, seeded):
    async def scenario(client: Client) -> Any:
        return await (await client.get("/api/alerts")).json()

    city, xihu = desk["run"]("city", scenario), desk["run"]("xihu", scenario)
    assert city["count"] > xihu["count"] > 0
    assert {alert["division_code"] for alert in xihu["alerts"]} == {"330106"}
    ranks = [("critical", "major", "minor").index(alert["severity"]) for alert in city["alerts"]]
    assert ranks == sorted(ranks)
    assert all(alert["site_name"] for alert in city["alerts"])


def test_an_alert_shows_its_rule_and_evidence_with_arrival_times(desk, seeded):
    alert = xiaoshan_critical(seeded)

    async def scenario(client: Client) -> Any:
        return await (await client.get(f"/api/alerts/{alert['id']}")).json()

    detail = desk["run"]("city", scenario)
    assert detail["rule_id"] == alert["rule_id"]
    assert detail["rule_description"]
    assert detail["division_label"] == "萧山区 (330109)"
    assert detail["evidence_events"]
    for event in detail["evidence_events"]:
        assert {"occurred_at", "received_at", "delay_s", "late", "payload"} <= set(event)
        assert isinstance(event["payload"], dict)


def test_a_late_day_lists_every_record_of_it_that_came_late(desk, seeded):
    [alert] = seeded.query(
        "SELECT toString(alert_id) AS id, subject_id FROM alerts WHERE rule_id = 'LEDGER-LATE' "
        "AND alert_type = 'alert.raised'"
    )

    async def scenario(client: Client) -> Any:
        return await (await client.get(f"/api/alerts/{alert['id']}")).json()

    detail = desk["run"]("city", scenario)
    assert detail["subject_kind"] == "site"
    late = seeded.query(
        "SELECT toString(event_id) AS id FROM raw_events WHERE dateDiff('second', occurred_at, received_at) > 86400 "
        f"AND toDate(occurred_at) = toDate('{alert['subject_id']}') ORDER BY occurred_at"
    )
    assert len(late) == 2  # the seeded day's two records posted a day and more late
    assert [event["event_id"] for event in detail["evidence_events"]] == [row["id"] for row in late]
    assert all(event["late"] for event in detail["evidence_events"])


def test_another_districts_alert_is_not_found_nor_actionable(desk, seeded):
    alert = xiaoshan_critical(seeded)

    async def scenario(client: Client) -> tuple[int, int]:
        seen = await client.get(f"/api/alerts/{alert['id']}")
        acted = await client.post(
            f"/api/alerts/{alert['id']}/acknowledge",
            json={"note": "x"},
            headers={"X-CSRF-Token": await csrf_of(client)},
        )
        return seen.status, acted.status

    assert desk["run"]("xihu", scenario) == (404, 404)
    assert desk["recorded"].sent == []


def test_an_action_without_the_csrf_token_publishes_nothing(desk, seeded):
    alert = xiaoshan_critical(seeded)

    async def scenario(client: Client) -> int:
        response = await client.post(f"/api/alerts/{alert['id']}/acknowledge", json={"note": "x"})
        return response.status

    assert desk["run"]("city", scenario) == 403
    assert desk["recorded"].sent == []


def test_closing_needs_a_note_and_assigning_a_future_due_time(desk, seeded):
    alert = xiaoshan_critical(seeded)

    async def scenario(client: Client) -> list[tuple[int, str]]:
        headers = {"X-CSRF-Token": await csrf_of(client)}
        answers = []
        for action, body in (
            ("close", {"note": "  "}),
            ("assign", {"due": "2020-01-01T08:00"}),
            ("assign", {"due": "tomorrow"}),
            ("assign", {"due": "2099-01-01T08:00", "enterprise_id": "someone-else"}),
        ):
            response = await client.post(f"/api/alerts/{alert['id']}/{action}", json=body, headers=headers)
            answers.append((response.status, (await response.json())["field"]))
        return answers

    assert desk["run"]("city", scenario) == [(422, "note"), (422, "due"), (422, "due"), (422, "enterprise_id")]
    assert desk["recorded"].sent == []


def test_an_assignment_is_a_valid_event_of_the_alerts_site_naming_the_regulator(desk, seeded):
    alert = xiaoshan_critical(seeded)
    due = (datetime.now(SHANGHAI) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    async def scenario(client: Client) -> int:
        headers = {"X-CSRF-Token": await csrf_of(client)}
        body = {"due": due, "note": "限期整改"}
        response = await client.post(f"/api/alerts/{alert['id']}/assign", json=body, headers=headers)
        return response.status

    assert desk["run"]("city", scenario) == 202
    ((site_id, value),) = desk["recorded"].sent
    event = events.decode(value)
    assert site_id == event.site_id == alert["site_id"]
    assert event.enterprise_id == alert["enterprise_id"]
    payload = orjson.loads(value)["payload"]
    assert (payload["alert_id"], payload["regulator_id"], payload["assignee_enterprise_id"]) == (
        alert["id"],
        "post-3301",
        alert["enterprise_id"],
    )
    assert payload["due"].startswith(due)
