"""Who has not reported (未报送), reminders, and the daily report (一天一报告) in the console.

A site of the jurisdiction is listed for a day when it has no staff health check or no parcel record
on it (STAFF-CHECK's daily check, and the parcel ledger every site keeps), with the time of its last
record of each. Counts come from the hourly rollup (sorted by site, cheap over a city); the last
records' exact times from the raw events of their last hour. A reminder is an event (`site.reminded`,
schemas/desk.py) produced like a desk action, so who reminded whom, when, is in the log.

GET  /reports                                        the page (ledgers, the daily report, 未报送)
GET  /api/unreported?date=YYYY-MM-DD                 the list
POST /api/unreported/{site_id}/remind {date, note}   remind the site's enterprise
GET  /api/reports/daily?date=YYYY-MM-DD              the daily report (HTML)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import orjson
import structlog
from aiohttp import web

from dashboards.report import gather, render
from services.problems import Problem
from services.regulator.console import Console, json_response
from services.regulator.desk import Publisher, record
from services.regulator.ledgers import day_start, parse_day
from streams.warehouse import literal

log = structlog.get_logger("tongfang.reporting")
PARCELS = "('parcels.received', 'parcels.disinfected', 'parcels.dispatched')"


class Reporting:
    def __init__(self, console: Console, publisher: Publisher | None) -> None:
        self.console, self.publisher = console, publisher

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await self.console.page_file(request, "reports.html")

    async def unreported(self, request: web.Request) -> web.Response:
        session = self.console.signed_in(request)
        day = self._day(request.query.get("date"))
        rows = await self.sites_missing(session.regulator.jurisdiction, day)
        return json_response({"date": day.isoformat(), "count": len(rows), "sites": rows})

    async def sites_missing(self, jurisdiction: str, day: date) -> list[dict[str, Any]]:
        """The jurisdiction's sites with no staff check or no parcel record on `day`."""
        scope = f"startsWith(division_code, {literal(jurisdiction)})"
        start, end = day_start(day), day_start(day + timedelta(days=1))
        rows = await self.console.rows(
            "SELECT s.site_id AS site_id, s.site_name AS name, s.owner AS enterprise_id, s.site_brand AS brand, "
            "s.site_division AS division_code, h.checks AS checks, h.parcel_records AS parcel_records, "
            "l.check_hour AS check_hour, l.parcel_hour AS parcel_hour "
            "FROM (SELECT site_id, argMax(name, registered_at) AS site_name, argMax(enterprise_id, registered_at) "
            "AS owner, argMax(brand, registered_at) AS site_brand, argMax(division_code, registered_at) "
            f"AS site_division FROM sites WHERE {scope} GROUP BY site_id) AS s "
            "LEFT JOIN (SELECT site_id, sumIf(events, event_type = 'staff.health_checked') AS checks, "
            f"sumIf(events, event_type IN {PARCELS}) AS parcel_records FROM events_hourly WHERE {scope} "
            f"AND hour >= {start} AND hour < {end} GROUP BY site_id) AS h ON h.site_id = s.site_id "
            "LEFT JOIN (SELECT site_id, maxIf(hour, event_type = 'staff.health_checked') AS check_hour, "
            f"maxIf(hour, event_type IN {PARCELS}) AS parcel_hour FROM events_hourly WHERE {scope} "
            f"AND hour < {end} GROUP BY site_id) AS l ON l.site_id = s.site_id "
            "WHERE h.checks = 0 OR h.parcel_records = 0 ORDER BY s.site_division, s.site_id LIMIT 2000"
        )
        await self._last_records(rows, end)
        reminded = await self._reminders(scope, day)
        for row in rows:
            counts = (("staff_checks", row["checks"]), ("parcel_records", row["parcel_records"]))
            row["missing"] = [kind for kind, count in counts if not count]
            row["division_label"] = self.console.divisions.label(row["division_code"])
            row["reminded_at"] = reminded.get(row["site_id"], "")
        return rows

    async def remind(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            raise Problem(422, "$", "expected a JSON object") from None
        session = self.console.checked_post(request)
        if self.publisher is None:
            raise Problem(503, "site_id", "reminders need Kafka, which this service was started without")
        site_id = request.match_info["site_id"]
        day = self._day(body.get("date") if isinstance(body, dict) else None)
        site = await self.console.site(session.regulator.jurisdiction, site_id)
        if site is None:
            raise Problem(404, "site_id", "no such site in your jurisdiction")
        listed = [
            row for row in await self.sites_missing(session.regulator.jurisdiction, day) if row["site_id"] == site_id
        ]
        if not listed:
            raise Problem(409, "site_id", "this site has reported both its checks and its parcels for the day")
        note = body.get("note", "") if isinstance(body.get("note", ""), str) else ""
        payload = {
            "regulator_id": session.regulator.regulator_id,
            "day": day.isoformat(),
            "missing": listed[0]["missing"],
            "note": note.strip(),
        }
        await record(self.publisher, "site.reminded", site["enterprise_id"], site_id, payload)
        log.info("site_reminded", site=site_id, regulator=session.regulator.regulator_id)
        return json_response({"site_id": site_id, "missing": listed[0]["missing"]}, status=202)

    async def daily_report(self, request: web.Request) -> web.Response:
        session = self.console.signed_in(request)
        day = self._day(request.query.get("date"))
        report = await asyncio.to_thread(gather, self.console.reader, session.regulator.jurisdiction, day)
        return web.Response(text=render(report), content_type="text/html", charset="utf-8")

    async def _last_records(self, rows: list[dict[str, Any]], end: str) -> None:
        """Each listed site's last staff check and last parcel record, to the second."""
        hours = [row[key] for row in rows for key in ("check_hour", "parcel_hour") if _real(row[key])]
        if not rows or not hours:
            for row in rows:
                row["last_check"] = row["last_parcel_record"] = ""
            return
        sites = ", ".join(literal(row["site_id"]) for row in rows)
        found = await self.console.rows(
            "SELECT site_id, formatDateTime(maxIf(occurred_at, event_type = 'staff.health_checked'), "
            "'%Y-%m-%d %H:%i') AS last_check, "
            f"formatDateTime(maxIf(occurred_at, event_type IN {PARCELS}), '%Y-%m-%d %H:%i') AS last_parcel_record "
            f"FROM raw_events WHERE site_id IN ({sites}) AND occurred_at >= toDateTime64({literal(min(hours))}, 3, "
            f"'Asia/Shanghai') AND occurred_at < {end} GROUP BY site_id"
        )
        by_site = {row["site_id"]: row for row in found}
        for row in rows:
            last = by_site.get(row["site_id"], {})
            row["last_check"] = last.get("last_check", "") if _real(row["check_hour"]) else ""
            row["last_parcel_record"] = last.get("last_parcel_record", "") if _real(row["parcel_hour"]) else ""

    async def _reminders(self, scope: str, day: date) -> dict[str, str]:
        rows = await self.console.rows(
            "SELECT site_id, formatDateTime(max(occurred_at), '%H:%i') AS at FROM raw_events "
            f"WHERE event_type = 'site.reminded' AND {scope} AND occurred_at >= {day_start(day)} "
            f"AND JSONExtractString(payload, 'day') = {literal(day.isoformat())} GROUP BY site_id"
        )
        return {row["site_id"]: row["at"] for row in rows}

    def _day(self, text: Any) -> date:
        return parse_day(str(text)) if text else self.console.clock().date()


def _real(hour: Any) -> bool:
    """A rollup hour that exists (a LEFT JOIN with no match gives the epoch)."""
    return isinstance(hour, str) and not hour.startswith("1970")


def add_routes(app: web.Application, reporting: Reporting) -> None:
    get: Callable[[str, Callable[[web.Request], Awaitable[web.StreamResponse]]], Any] = app.router.add_get
    get("/reports", reporting.page)
    get("/api/unreported", reporting.unreported)
    app.router.add_post("/api/unreported/{site_id}/remind", reporting.remind)
    get("/api/reports/daily", reporting.daily_report)
