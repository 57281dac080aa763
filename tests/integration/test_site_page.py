"""The site page over the seeded warehouse: the site with its names, its batches still waiting for a
disinfection record with the time left (the catalogue's deadlines), its alerts, its lateness, and its
timeline filtered by family; another district's site is not found."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import Console
from services.regulator.divisions import Divisions
from tests.factories import BASE_TIME
from tests.support.console import Client, create_regulators, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture
def get(seeded, tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    tokens = create_regulators(registry)

    def run(who: str, path: str, now: datetime = BASE_TIME + timedelta(minutes=70)) -> tuple[int, Any]:
        async def main() -> tuple[int, Any]:
            console = Console(registry, seeded, Boards.load(), Divisions.load(), clock=lambda: now)
            client: Client
            async with TestClient(
                TestServer(create_app(registry, seeded, console=console)), cookie_jar=CookieJar(unsafe=True)
            ) as client:
                await sign_in(client, tokens[who])
                response = await client.get(path)
                return response.status, await response.json()

        return asyncio.run(main())

    return run


def test_the_site_with_its_names_lateness_and_alerts(get):
    status, site = get("city", "/api/sites/hz-intl-01")
    assert status == 200
    assert (site["enterprise_id"], site["division_label"], site["division_name"]) == (
        "ent-b",
        "萧山区 (330109)",
        "浙江省杭州市萧山区",
    )
    assert site["lateness_30d"]["records"] > 0
    assert {alert["rule"] for alert in site["alerts"]} >= {"DIS-IMPORT"}
    # open critical alerts make it red, whatever its tests and late records
    assert (site["grade"]["grade"], site["grade"]["open_critical"] > 0) == ("红", True)


def test_batches_waiting_for_disinfection_show_the_time_left_to_their_deadline(get):
    # 70 minutes after 08:00: I-2 (imported, received 09:00, due 10:00) is waiting with 50 minutes
    # left; I-1 and I-3 were disinfected; the domestic batches are not from outside the city.
    _, site = get("city", "/api/sites/hz-intl-01")
    pending = {row["batch"]: row for row in site["pending"]}
    assert set(pending) == {"I-2"}
    assert (pending["I-2"]["deadline"], pending["I-2"]["minutes_left"]) == ("2026-11-23 10:00", 50)


def test_the_timeline_filters_by_family(get):
    _, everything = get("city", "/api/sites/hz-intl-01/timeline?from=now-2d&to=now%2B1d")
    _, parcels = get("city", "/api/sites/hz-intl-01/timeline?from=now-2d&to=now%2B1d&family=parcels")
    assert parcels["count"] > 0
    assert everything["count"] > parcels["count"]
    assert {event["type"].split(".")[0] for event in parcels["events"]} == {"parcels"}
    assert get("city", "/api/sites/hz-intl-01/timeline?family=nothing")[0] == 422


def test_another_districts_site_is_not_found(get):
    assert get("xihu", "/api/sites/hz-intl-01")[0] == 404
    assert get("xihu", "/api/sites/hz-intl-01/timeline")[0] == 404
    assert get("xihu", "/api/sites/hz-xihu-01")[0] == 200
