"""A site's page (网点详情) in the console: who it is, its timeline of events, the batches waiting for a
disinfection record with the time left before their deadline, its alerts, and how late its records come.

Pending deadlines are worked out from the warehouse with the catalogue's deadlines for the profile
in force in the site's jurisdiction now (policy_levels), the way the rules set them: an imported batch
(DIS-IMPORT) and a domestic one from outside the city (DIS-DOMESTIC), counted from its first receipt.

GET /sites/{site_id}                                  the page
GET /api/sites/{site_id}                              the site, its alerts, lateness over 30 days, pending batches
GET /api/sites/{site_id}/timeline?family&from&to      its events, newest first (at most 500)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dashboards.grades import GRADING, graded_sites
from dashboards.macros import ALL, expand
from dashboards.timerange import TimeRangeError, parse_range
from services.problems import Problem
from services.registry import Session
from services.regulator.console import Console, json_response
from streams.compliance.catalogue import Catalogue
from streams.compliance.rules.disinfection import Deadline
from streams.read_models import level_now, profile_of, raised
from streams.warehouse import literal

FAMILIES = {
    "parcels": "startsWith(event_type, 'parcels.')",
    "staff": "startsWith(event_type, 'staff.')",
    "vehicles": "startsWith(event_type, 'vehicle.') OR event_type = 'route.planned'",
    "site": "startsWith(event_type, 'site.')",
    "other": "NOT match(event_type, '^(parcels|staff|vehicle|site)\\\\.') AND event_type != 'route.planned'",
}
# How far back a batch may still be waiting: past this it is an alert's business, not a pending one.
PENDING_HORIZON_DAYS = 3


class Sites:
    def __init__(self, console: Console, catalogue: Catalogue) -> None:
        self.console, self.catalogue = console, catalogue

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await self.console.page_file(request, "site.html")

    async def site(self, request: web.Request) -> web.Response:
        session = self.console.signed_in(request)
        site = await self._site(session, request.match_info["site_id"])
        where = f"site_id = {literal(site['site_id'])} AND startsWith(division_code, {literal(site['division_code'])})"
        now = self._now()
        late_after = int(self.catalogue.late_after.total_seconds())
        lateness = await self.console.rows(
            "SELECT count() AS records, countIf(dateDiff('second', raw_events.occurred_at, raw_events.received_at) "
            f"> {late_after}) AS late_records, max(dateDiff('second', raw_events.occurred_at, raw_events.received_at)) "
            f"AS worst_delay_s FROM raw_events WHERE {where} AND raw_events.occurred_at >= {now} - INTERVAL 30 DAY"
        )
        alerts = await self.console.rows(
            "SELECT toString(r.alert_id) AS id, r.rule_id AS rule, r.severity AS level, r.title_zh AS title, "
            "r.subject_id AS subject, formatDateTime(r.at, '%Y-%m-%d %H:%i') AS raised, "
            "formatDateTime(r.deadline, '%Y-%m-%d %H:%i') AS due, "
            "if(v.resolved_at IS NULL OR toYear(v.resolved_at) < 2000, '', "
            "formatDateTime(v.resolved_at, '%Y-%m-%d %H:%i')) AS resolved, v.reason AS late_reason "
            f"FROM ({raised(f'{where} AND at >= {now} - INTERVAL 30 DAY')}) AS r "
            "LEFT JOIN (SELECT alert_id, min(at) AS resolved_at, any(late_reason) AS reason FROM alerts "
            f"WHERE alert_type = 'alert.resolved' AND {where} GROUP BY alert_id) AS v ON v.alert_id = r.alert_id "
            "ORDER BY r.at DESC LIMIT 300"
        )
        span = self.console.clock()
        graded = await self.console.rows(
            expand(
                f"SELECT grade, open_critical, overdue_tests, late_rate FROM ({graded_sites()})",
                span - GRADING.window,
                span,
                {"jurisdiction": site["division_code"], "brand": ALL, "site": [site["site_id"]]},
            )
        )
        figures = lateness[0]
        figures["late_rate"] = figures["late_records"] / figures["records"] if figures["records"] else None
        return json_response(
            {
                **site,
                "division_label": self.console.divisions.label(site["division_code"]),
                "division_name": self.console.divisions.full_name(site["division_code"]),
                "lateness_30d": figures,
                "grade": graded[0] if graded else None,
                "grading": GRADING.description.zh,
                "alerts": alerts,
                "pending": await self._pending(site),
            }
        )

    async def timeline(self, request: web.Request) -> web.Response:
        session = self.console.signed_in(request)
        site = await self._site(session, request.match_info["site_id"])
        family = request.query.get("family", "")
        if family and family not in FAMILIES:
            raise Problem(422, "family", f"expected one of {', '.join(FAMILIES)}")
        try:
            span = parse_range(
                request.query.get("from", "now-7d"), request.query.get("to", "now"), self.console.clock()
            )
        except TimeRangeError as exc:
            raise Problem(422, exc.field, exc.reason) from None
        late_after = int(self.catalogue.late_after.total_seconds())
        rows = await self.console.rows(
            "SELECT toString(event_id) AS id, event_type AS type, "
            "formatDateTime(raw_events.occurred_at, '%Y-%m-%d %H:%i:%S') AS occurred, "
            "formatDateTime(raw_events.received_at, '%Y-%m-%d %H:%i:%S') AS received, "
            "dateDiff('second', raw_events.occurred_at, raw_events.received_at) AS delay_s, "
            f"delay_s > {late_after} AS late, payload FROM raw_events "
            f"WHERE site_id = {literal(site['site_id'])} "
            f"AND raw_events.occurred_at >= fromUnixTimestamp64Milli({int(span.since.timestamp() * 1000)}) "
            f"AND raw_events.occurred_at <= fromUnixTimestamp64Milli({int(span.until.timestamp() * 1000)}) "
            f"{'AND (' + FAMILIES[family] + ')' if family else ''} "
            "ORDER BY raw_events.occurred_at DESC LIMIT 1 BY event_id LIMIT 500"
        )
        return json_response({"site_id": site["site_id"], "count": len(rows), "events": rows})

    async def _pending(self, site: dict[str, Any]) -> list[dict[str, Any]]:
        """Batches received with no disinfection record yet, with their deadline and minutes left."""
        now = self._now()
        profile = profile_of(await self.console.rows(level_now(site["division_code"], now)))
        imported = int(self.catalogue.rules["DIS-IMPORT"].limits(profile, Deadline).deadline.total_seconds())
        domestic = int(self.catalogue.rules["DIS-DOMESTIC"].limits(profile, Deadline).deadline.total_seconds())
        rows = await self.console.rows(
            "SELECT batch_id AS batch, anyIf(origin, event_type = 'parcels.received') AS origin_kind, "
            "sumIf(item_count, event_type = 'parcels.received') AS items, "
            "formatDateTime(minIf(occurred_at, event_type = 'parcels.received'), '%Y-%m-%d %H:%i') AS received, "
            f"minIf(occurred_at, event_type = 'parcels.received') + toIntervalSecond(if(origin_kind = 'imported', "
            f"{imported}, {domestic})) AS due_at, formatDateTime(due_at, '%Y-%m-%d %H:%i') AS deadline, "
            f"dateDiff('minute', {now}, due_at) AS minutes_left, "
            "countIf(event_type = 'parcels.dispatched') > 0 AS dispatched "
            f"FROM parcel_events WHERE site_id = {literal(site['site_id'])} "
            f"AND startsWith(division_code, {literal(site['division_code'])}) "
            f"AND occurred_at >= {now} - INTERVAL {PENDING_HORIZON_DAYS} DAY GROUP BY batch_id "
            "HAVING countIf(event_type = 'parcels.received') > 0 AND countIf(event_type = 'parcels.disinfected') = 0 "
            "AND (origin_kind = 'imported' OR anyIf(from_outside_city, event_type = 'parcels.received')) "
            "ORDER BY due_at LIMIT 200"
        )
        for row in rows:
            row.pop("due_at", None)
            row["profile"] = profile
        return rows

    def _now(self) -> str:
        return f"fromUnixTimestamp64Milli({int(self.console.clock().timestamp() * 1000)}, 'Asia/Shanghai')"

    async def _site(self, session: Session, site_id: str) -> dict[str, Any]:
        site = await self.console.site(session.regulator.jurisdiction, site_id)
        if site is None:
            raise Problem(404, "site_id", "no such site in your jurisdiction")
        return site


def add_routes(app: web.Application, sites: Sites) -> None:
    get: Callable[[str, Callable[[web.Request], Awaitable[web.StreamResponse]]], Any] = app.router.add_get
    get("/sites/{site_id}", sites.page)
    get("/api/sites/{site_id}", sites.site)
    get("/api/sites/{site_id}/timeline", sites.timeline)
