"""The regulator API on real chDB data: scoped tokens read only their jurisdiction."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.registry import Registry
from services.regulator.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def call(seeded, tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    tokens = {
        "city": registry.create_regulator("post-3301", "杭州市邮政管理局", "3301"),
        "xihu": registry.create_regulator("post-330106", "西湖区邮政", "330106"),
        "xiaoshan": registry.create_regulator("post-330109", "萧山区邮政", "330109"),
    }

    def run(who: str | None, path: str) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with TestClient(TestServer(create_app(registry, seeded))) as client:
                headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
                response = await client.get(path, headers=headers)
                if response.content_type == "application/json":
                    return response.status, await response.json()
                return response.status, await response.text()

        return asyncio.run(go())

    return run


def test_open_alerts_are_limited_to_the_tokens_jurisdiction(call):
    status, city = call("city", "/v1/alerts/open")
    assert status == 200
    assert city["count"] > 0
    _, xihu = call("xihu", "/v1/alerts/open")
    _, xiaoshan = call("xiaoshan", "/v1/alerts/open")
    assert {a["division_code"] for a in xihu["alerts"]} == {"330106"}
    assert {a["division_code"] for a in xiaoshan["alerts"]} == {"330109"}
    assert xihu["count"] + xiaoshan["count"] == city["count"]
    status, critical = call("xiaoshan", "/v1/alerts/open?severity=critical")
    assert status == 200
    assert {a["severity"] for a in critical["alerts"]} == {"critical"}


def test_a_site_outside_the_jurisdiction_is_not_found(call, seeded):
    status, site = call("xiaoshan", "/v1/sites/hz-intl-01")
    assert (status, site["division_code"], site["brand"]) == (200, "330109", "yt")
    assert site["open_alerts"]["critical"] > 0
    scan = seeded.query(
        "SELECT toString(max(occurred_at)) AS last, countIf(toDate(occurred_at) = today()) AS today "
        "FROM raw_events WHERE site_id = 'hz-intl-01'"
    )[0]
    assert site["last_event_at"].startswith(scan["last"][:19])
    assert site["events_today"] == scan["today"]
    status, answer = call("xihu", "/v1/sites/hz-intl-01")
    assert (status, answer["field"]) == (404, "site_id")


def test_daily_figures_and_report_only_inside_the_jurisdiction(call):
    status, daily = call("city", "/v1/jurisdictions/330109/daily?date=2026-11-23")
    assert status == 200
    assert daily["headlines"]["事件总数"] > 0
    assert {row["网点"] for row in daily["worst_sites"]} == {"hz-intl-01"}
    status, answer = call("xihu", "/v1/jurisdictions/330109/daily?date=2026-11-23")
    assert (status, answer["field"]) == (403, "jurisdiction")
    status, page = call("xihu", "/v1/reports/daily?date=2026-11-23")
    assert status == 200
    assert "人物同防日报" in page
    assert "hz-intl-01" not in page


def test_a_token_over_its_rate_gets_429_and_others_are_unaffected(seeded, tmp_path):
    from services.ratelimit import RateLimiter

    registry = Registry(tmp_path / "registry.sqlite")
    busy = registry.create_regulator("busy", "甲", "3301")
    calm = registry.create_regulator("calm", "乙", "3301")

    async def go() -> list[int]:
        app = create_app(registry, seeded, RateLimiter(per_second=0.01, burst=3))
        async with TestClient(TestServer(app)) as client:
            statuses = []
            for token in [busy] * 5 + [calm]:
                response = await client.get("/v1/alerts/open", headers={"Authorization": f"Bearer {token}"})
                statuses.append(response.status)
            return statuses

    assert asyncio.run(go()) == [200, 200, 200, 429, 429, 200]


def test_bad_or_missing_tokens_and_parameters_are_refused(call):
    assert call(None, "/v1/alerts/open")[0] == 401
    assert call("city", "/v1/alerts/open?severity=urgent")[1]["field"] == "severity"
    assert call("city", "/v1/jurisdictions/33x/daily")[0] == 422
    assert call("city", "/v1/jurisdictions/330109/daily?date=23.11.2026")[1]["field"] == "date"
    for path in ("/v1/jurisdictions/330109/daily?date=9999-12-31", "/v1/reports/daily?date=0001-01-01"):
        status, body = call("city", path)
        assert (status, body["field"]) == (422, "date"), path


def test_json_carries_chinese_as_it_is(seeded, tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    token = registry.create_regulator("post-3301", "杭州市邮政管理局", "3301")

    async def go() -> str:
        async with TestClient(TestServer(create_app(registry, seeded))) as client:
            response = await client.get("/v1/alerts/open", headers={"Authorization": f"Bearer {token}"})
            return await response.text()

    text = asyncio.run(go())
    assert "未按时消毒" in text  # a rule's title, unescaped
    assert "\\u" not in text


def test_openapi_documents_every_v1_route_and_real_answers_match_it(call, seeded, tmp_path):
    import jsonschema

    from services.regulator.app import create_app

    status, document = call(None, "/openapi.json")
    assert status == 200
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in create_app(Registry(tmp_path / "r.sqlite"), seeded).router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/v1/") and route.method != "HEAD"
    }
    documented = {(method, path) for path, methods in document["paths"].items() for method in methods}
    assert routes == documented

    def check(path: str, template: str, status: int = 200) -> None:
        answered, body = call("city", path)
        assert answered == status, body
        schema = document["paths"][template]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": document["components"]})

    check("/v1/alerts/open", "/v1/alerts/open")
    check("/v1/sites/hz-intl-01", "/v1/sites/{site_id}")
    check("/v1/sites/nowhere-01", "/v1/sites/{site_id}", 404)
    check("/v1/jurisdictions/3301/daily?date=2026-11-23", "/v1/jurisdictions/{code}/daily")
    check("/v1/jurisdictions/3301/daily?date=2026-11-20", "/v1/jurisdictions/{code}/daily")  # rates null
    check("/v1/alerts/open?severity=urgent", "/v1/alerts/open", 422)
    check("/v1/jurisdictions/31/daily", "/v1/jurisdictions/{code}/daily", 403)
