"""The regulator API: open alerts, a site's status, a jurisdiction's daily figures and report.

Each token belongs to a regulator scoped to a jurisdiction (a division-code prefix). Every query
filters on that prefix; a site or jurisdiction outside it answers 404 / 403 without saying more.

GET /v1/alerts/open[?severity=critical&rule=DIS-IMPORT]
GET /v1/sites/{site_id}
GET /v1/jurisdictions/{code}/daily?date=YYYY-MM-DD
GET /v1/reports/daily?date=YYYY-MM-DD[&jurisdiction=code]    (text/html)
GET /openapi.json                                             (services/regulator/openapi.py)

The same service serves the regulators' console (services/regulator/console.py) to browsers.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from dashboards.report import gather, render
from services.problems import Problem, problems
from services.ratelimit import RateLimiter
from services.registry import Registry, Regulator
from services.regulator import desk, ledgers, reporting, sites
from services.regulator.boards import Boards
from services.regulator.console import DIVISION_PREFIX, SITE_ID, Console, add_routes, json_response
from services.regulator.desk import Desk, Publisher
from services.regulator.divisions import Divisions
from services.regulator.ledgers import Ledgers, parse_day
from services.regulator.openapi import openapi_document
from services.regulator.reporting import Reporting
from services.regulator.sites import Sites
from streams.compliance.catalogue import load as load_catalogue
from streams.read_models import OPEN_NOW
from streams.warehouse import Reader, literal

log = structlog.get_logger("tongfang.regulator")
_RULE = re.compile(r"^[A-Z]+(-[A-Z]+)*$")


class RegulatorApi:
    def __init__(self, registry: Registry, reader: Reader, limiter: RateLimiter) -> None:
        self.registry = registry
        self.reader = reader
        self.limiter = limiter

    async def _query(self, sql: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.reader.query, sql)

    def _regulator(self, request: web.Request) -> Regulator:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        regulator = self.registry.authenticate_regulator(token.strip()) if scheme.lower() == "bearer" else None
        if regulator is None:
            raise Problem(401, "Authorization", "a valid Bearer token of a regulator is required")
        if self.limiter.take(regulator.regulator_id) > 0:
            raise Problem(429, "Authorization", "too many requests for this token; retry shortly")
        return regulator

    async def open_alerts(self, request: web.Request) -> web.Response:
        regulator = self._regulator(request)
        conditions = [OPEN_NOW, f"startsWith(division_code, {literal(regulator.jurisdiction)})"]
        severity = request.query.get("severity")
        if severity is not None:
            if severity not in ("critical", "major", "minor"):
                raise Problem(422, "severity", "expected critical, major or minor")
            conditions.append(f"severity = {literal(severity)}")
        rule = request.query.get("rule")
        if rule is not None:
            if not _RULE.match(rule):
                raise Problem(422, "rule", "expected a rule id such as DIS-IMPORT")
            conditions.append(f"rule_id = {literal(rule)}")
        rows = await self._query(
            "SELECT toString(alert_id) AS alert_id, rule_id, severity, title_zh, site_id, enterprise_id, "
            "division_code, subject_kind, subject_id, at, deadline, profile, evidence, details FROM alerts "
            f"WHERE {' AND '.join(conditions)} ORDER BY at DESC LIMIT 1 BY alert_id LIMIT 1000"
        )
        return json_response({"jurisdiction": regulator.jurisdiction, "count": len(rows), "alerts": rows})

    async def site(self, request: web.Request) -> web.Response:
        regulator = self._regulator(request)
        site_id = request.match_info["site_id"]
        if not SITE_ID.match(site_id):
            raise Problem(422, "site_id", "letters, digits and _.:- ; 1 to 64 characters")
        scope = f"site_id = {literal(site_id)} AND startsWith(division_code, {literal(regulator.jurisdiction)})"
        sites = await self._query(
            "SELECT site_id, enterprise_id, brand, name, site_kind, division_code, handles_international "
            f"FROM sites FINAL WHERE {scope}"
        )
        if not sites:
            raise Problem(404, "site_id", "no such site in your jurisdiction")
        alerts = await self._query(
            f"SELECT severity, uniqExact(alert_id) AS open FROM alerts WHERE {OPEN_NOW} AND {scope} GROUP BY severity"
        )
        # raw_events is sorted by hour first: read from today or the site's last hour in the rollup
        # (sorted by site), whichever is earlier, not the site's whole history.
        activity = await self._query(
            "SELECT max(occurred_at) AS last_event_at, countIf(toDate(occurred_at) = today()) AS events_today "
            f"FROM raw_events WHERE {scope} AND occurred_at >= least(toDateTime(today(), 'Asia/Shanghai'), "
            f"(SELECT max(hour) FROM events_hourly WHERE {scope}))"
        )
        return json_response(
            {
                **sites[0],
                "open_alerts": {row["severity"]: row["open"] for row in alerts},
                **activity[0],
            }
        )

    async def daily(self, request: web.Request) -> web.Response:
        regulator = self._regulator(request)
        code = self._jurisdiction(regulator, request.match_info["code"])
        report = await asyncio.to_thread(gather, self.reader, code, _day(request))
        return json_response(
            {
                "jurisdiction": code,
                "date": report.day.isoformat(),
                "headlines": {title: value for title, value, _ in report.headlines},
                "alerts_by_rule": report.by_rule,
                "worst_sites": report.worst_sites,
                "worst_enterprises": report.worst_enterprises,
                "open_critical_alerts": len(report.critical_alerts),
                "late_records": len(report.late_records),
            }
        )

    async def report(self, request: web.Request) -> web.Response:
        regulator = self._regulator(request)
        code = self._jurisdiction(regulator, request.query.get("jurisdiction", regulator.jurisdiction))
        report = await asyncio.to_thread(gather, self.reader, code, _day(request))
        return web.Response(text=render(report), content_type="text/html", charset="utf-8")

    @staticmethod
    def _jurisdiction(regulator: Regulator, code: str) -> str:
        if not DIVISION_PREFIX.match(code):
            raise Problem(422, "jurisdiction", "expected a division-code prefix of 2 to 9 digits")
        if not code.startswith(regulator.jurisdiction):
            raise Problem(403, "jurisdiction", f"outside your jurisdiction ({regulator.jurisdiction})")
        return code


def _day(request: web.Request) -> date:
    text = request.query.get("date")
    if text is None:
        return datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return parse_day(text)


def create_app(
    registry: Registry,
    reader: Reader,
    limiter: RateLimiter | None = None,
    console: Console | None = None,
    publisher: Publisher | None = None,
) -> web.Application:
    """The API, and the console with its alert desk (whose actions need a `publisher` to Kafka)."""
    api = RegulatorApi(registry, reader, limiter or RateLimiter(10, 30))
    app = web.Application(middlewares=[problems])
    console = console or Console(registry, reader, Boards.load(), Divisions.load())
    add_routes(app, console)
    catalogue = load_catalogue()
    desk.add_routes(app, Desk(console, publisher, catalogue))
    reporting.add_routes(app, Reporting(console, publisher))
    sites.add_routes(app, Sites(console, catalogue))
    ledgers.add_routes(app, Ledgers(console, catalogue.late_after))

    async def health(_: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    document = openapi_document()

    async def openapi(_: web.Request) -> web.Response:
        return json_response(document)

    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/v1/alerts/open", api.open_alerts)
    app.router.add_get("/v1/sites/{site_id}", api.site)
    app.router.add_get("/v1/jurisdictions/{code}/daily", api.daily)
    app.router.add_get("/v1/reports/daily", api.report)
    return app
