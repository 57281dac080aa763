"""The console's sign-in and isolation over the seeded warehouse: sessions are HttpOnly SameSite=Strict
cookies, POSTs need the CSRF token, a revoked regulator is out at once, and a district regulator reads
nothing of another district whatever the URL says."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import COOKIE, Console
from services.regulator.divisions import Divisions
from tests.factories import BASE_TIME
from tests.support.console import Client, create_regulators, csrf_of, sign_in

pytestmark = pytest.mark.integration
NOW = BASE_TIME + timedelta(hours=12)
Scenario = Callable[[Client], Awaitable[Any]]


@pytest.fixture
def registry(tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    registry.tokens = create_regulators(registry)  # type: ignore[attr-defined]
    return registry


@pytest.fixture
def run(seeded, registry):
    def go(scenario: Scenario, session_hours: float = 8.0) -> Any:
        console = Console(registry, seeded, Boards.load(), Divisions.load(), session_hours, clock=lambda: NOW)

        async def main() -> Any:
            server = TestServer(create_app(registry, seeded, console=console))
            async with TestClient(server, cookie_jar=CookieJar(unsafe=True)) as client:
                return await scenario(client)

        return asyncio.run(main())

    return go


def panel_path(uid: str, title: str) -> str:
    board = Boards.load().get(uid)
    assert board is not None
    (panel,) = [p for p in board.document["panels"] if p["title"] == title]
    return f"/api/dashboards/{uid}/panels/{panel['id']}"


def test_without_a_session_pages_go_to_sign_in_and_the_api_answers_401(run):
    async def scenario(client: Client) -> None:
        page = await client.get("/d/tongfang-alerts?from=now-7d&to=now", allow_redirects=False)
        assert page.status == 302
        target = urlsplit(page.headers["Location"])
        assert target.path == "/login"
        assert parse_qs(target.query)["next"] == ["/d/tongfang-alerts?from=now-7d&to=now"]
        assert (await client.get("/api/dashboards")).status == 401
        assert (await client.get(panel_path("tongfang-overview", "事件总数"))).status == 401

    run(scenario)


def test_signing_in_sets_an_httponly_strict_cookie_and_returns_to_the_page_asked_for(run, registry):
    async def scenario(client: Client) -> None:
        response = await sign_in(client, registry.tokens["city"], "/d/tongfang-alerts?from=now-7d")
        assert response.status == 303
        assert response.headers["Location"] == "/d/tongfang-alerts?from=now-7d"
        cookie = response.cookies[COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert (await client.get("/d/tongfang-alerts")).status == 200
        session = await (await client.get("/api/session")).json()
        assert (session["jurisdiction"], session["jurisdiction_label"]) == ("3301", "杭州市 (3301)")

    run(scenario)


def test_a_wrong_token_a_stale_form_or_a_foreign_target_gets_no_session(run, registry):
    async def scenario(client: Client) -> None:
        assert (await sign_in(client, "tfr_not-a-token")).status == 401
        forged = await client.post("/login", data={"csrf": "x", "token": registry.tokens["city"]})
        assert forged.status == 403
        assert COOKIE not in forged.cookies
        assert (await client.get("/api/session")).status == 401
        elsewhere = await sign_in(client, registry.tokens["city"], "//evil.example/")
        assert elsewhere.headers["Location"] == "/"

    run(scenario)


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(run, registry):
    async def scenario(client: Client) -> None:
        await sign_in(client, registry.tokens["city"])
        refused = await client.post("/logout", data={"csrf": "wrong"}, allow_redirects=False)
        assert refused.status == 403
        assert (await client.get("/api/session")).status == 200
        out = await client.post("/logout", data={"csrf": await csrf_of(client)}, allow_redirects=False)
        assert out.status == 303
        assert (await client.get("/api/session")).status == 401

    run(scenario)


def test_a_revoked_regulator_is_out_at_its_next_request(run, registry):
    async def scenario(client: Client) -> None:
        await sign_in(client, registry.tokens["xihu"])
        assert (await client.get("/api/dashboards")).status == 200
        assert registry.revoke_regulator("post-330106")
        assert (await client.get("/api/dashboards")).status == 401

    run(scenario)


def test_a_session_expires(run, registry):
    async def scenario(client: Client) -> None:
        await sign_in(client, registry.tokens["city"])
        assert (await client.get("/api/dashboards")).status == 200
        await asyncio.sleep(1.2)
        assert (await client.get("/api/dashboards")).status == 401

    run(scenario, session_hours=1 / 3600)


def test_a_district_regulator_cannot_widen_its_jurisdiction_by_url(run, registry):
    async def scenario(client: Client) -> None:
        await sign_in(client, registry.tokens["xihu"])
        path = panel_path("tongfang-overview", "问题最多的网点")
        for code in ("330109", "3301", "33"):
            response = await client.get(path, params={"var-jurisdiction": code, "from": "now-7d", "to": "now"})
            assert response.status == 403, code
        assert (await client.get(path, params={"var-jurisdiction": "33' OR 1=1 --"})).status == 422
        foreign_site = await client.get(
            panel_path("tongfang-site", "批次台账"), params={"var-site": "hz-intl-01", "from": "now-7d", "to": "now"}
        )
        assert foreign_site.status == 404
        injected = await client.get(path, params={"var-brand": "sf' OR '1'='1"})
        assert injected.status == 422

    run(scenario)


def test_a_district_regulator_sees_only_its_own_rows_and_choices(run, registry, seeded):
    async def scenario(client: Client) -> dict[str, Any]:
        await sign_in(client, registry.tokens["xihu"])
        variables = "/api/dashboards/tongfang-overview/variables"
        jurisdictions = await (await client.get(f"{variables}/jurisdiction")).json()
        sites = await (await client.get(f"{variables}/site")).json()
        table = await client.get(panel_path("tongfang-overview", "问题最多的网点"), params={"from": "now-7d"})
        return {"jurisdictions": jurisdictions, "sites": sites, "table": await table.json()}

    seen = run(scenario)
    assert [o["value"] for o in seen["jurisdictions"]["options"]] == ["330106"]
    assert seen["jurisdictions"]["options"][0]["text"] == "西湖区 (330106)"
    assert {o["value"] for o in seen["sites"]["options"]} == {
        row["site_id"] for row in seeded.query("SELECT site_id FROM sites WHERE division_code = '330106'")
    }
    site_column = seen["table"]["columns"].index("网点")
    shown = {row[site_column] for row in seen["table"]["rows"]}
    assert shown
    assert shown <= {"hz-xihu-01"}


def test_bad_time_ranges_name_the_parameter(run, registry):
    async def scenario(client: Client) -> None:
        await sign_in(client, registry.tokens["city"])
        response = await client.get(panel_path("tongfang-overview", "事件总数"), params={"from": "yesterday"})
        assert response.status == 422
        assert (await response.json())["field"] == "from"

    run(scenario)


def test_sessions_are_stored_as_digests(registry):
    opened = registry.open_session(registry.tokens["city"], 60)
    assert opened is not None
    session_token, _ = opened
    stored = [row[0] for row in registry._db.execute("SELECT session_sha256 FROM regulator_sessions")]
    assert session_token not in stored
    assert registry.session(session_token) is not None
