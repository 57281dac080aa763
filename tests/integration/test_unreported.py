"""未报送 over the seeded warehouse: the sites with no staff check or no parcel record on a day, with
their last records to the minute; a reminder is a valid event naming what is missing, refused for a
site that reported or one of another district."""

from __future__ import annotations

import asyncio
from datetime import timedelta
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
from tests.factories import BASE_TIME
from tests.support.console import Client, Recorded, create_regulators, csrf_of, sign_in

pytestmark = pytest.mark.integration
DAY, NEXT_DAY = BASE_TIME.date(), (BASE_TIME + timedelta(days=1)).date()


@pytest.fixture
def call(seeded, tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    tokens = create_regulators(registry)
    recorded = Recorded()

    def run(who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async def main() -> tuple[int, Any]:
            console = Console(registry, seeded, Boards.load(), Divisions.load(), clock=lambda: BASE_TIME)
            client: Client
            app = create_app(registry, seeded, console=console, publisher=recorded)
            async with TestClient(TestServer(app), cookie_jar=CookieJar(unsafe=True)) as client:
                await sign_in(client, tokens[who])
                headers = {"X-CSRF-Token": await csrf_of(client)}
                response = await client.request(method, path, json=body, headers=headers)
                return response.status, await response.json()

        return asyncio.run(main())

    run.recorded = recorded  # type: ignore[attr-defined]
    return run


def test_a_day_every_site_reported_lists_none_and_the_next_lists_both(call, seeded):
    assert call("city", "GET", f"/api/unreported?date={DAY}")[1]["count"] == 0
    status, body = call("city", "GET", f"/api/unreported?date={NEXT_DAY}")
    assert status == 200
    listed = {site["site_id"]: site for site in body["sites"]}
    assert set(listed) == {"hz-xihu-01", "hz-intl-01"}
    for site_id, site in listed.items():
        assert site["missing"] == ["staff_checks", "parcel_records"]
        last = seeded.query(
            "SELECT formatDateTime(maxIf(occurred_at, event_type = 'staff.health_checked'), '%Y-%m-%d %H:%i') AS c "
            f"FROM raw_events WHERE site_id = '{site_id}'"
        )
        assert site["last_check"] == last[0]["c"]
        assert site["last_parcel_record"].startswith(str(DAY))


def test_a_district_sees_only_its_sites(call):
    _, body = call("xihu", "GET", f"/api/unreported?date={NEXT_DAY}")
    assert [site["site_id"] for site in body["sites"]] == ["hz-xihu-01"]
    assert body["sites"][0]["division_label"] == "西湖区 (330106)"


def test_a_reminder_is_an_event_naming_what_is_missing(call):
    status, answer = call(
        "city", "POST", "/api/unreported/hz-intl-01/remind", {"date": str(NEXT_DAY), "note": "请补报"}
    )
    assert status == 202, answer
    ((site_id, value),) = call.recorded.sent
    event = events.decode(value)
    assert (site_id, event.site_id, event.enterprise_id) == ("hz-intl-01", "hz-intl-01", "ent-b")
    payload = orjson.loads(value)["payload"]
    assert payload == {
        "regulator_id": "post-3301",
        "day": str(NEXT_DAY),
        "missing": ["staff_checks", "parcel_records"],
        "note": "请补报",
    }


def test_no_reminder_for_a_site_that_reported_or_one_elsewhere(call):
    assert call("city", "POST", "/api/unreported/hz-intl-01/remind", {"date": str(DAY)})[0] == 409
    assert call("xihu", "POST", "/api/unreported/hz-intl-01/remind", {"date": str(NEXT_DAY)})[0] == 404
    assert call.recorded.sent == []
