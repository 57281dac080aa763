"""The alert desk (预警处置): the jurisdiction's open alerts, each with its rule, deadline, site and
evidence, and what regulators did about them.

An action is an event (`alert.acknowledged`, `alert.assigned`, `alert.closed`; schemas/desk.py) with
the alert's enterprise and site, produced to the events topic on the site's partition and stored by
the worker like every other fact; the desk's state is read back from the warehouse (alert_actions).
The answer to a POST (202) comes once Kafka has the event (acks=all), not once it is stored.

GET  /desk                                              the page
GET  /api/alerts?severity&rule&site&state               open alerts (state: pending, all, closed)
GET  /api/alerts/{alert_id}                             one alert: rule, evidence events, history
POST /api/alerts/{alert_id}/acknowledge {note}
POST /api/alerts/{alert_id}/assign      {enterprise_id, due, note}
POST /api/alerts/{alert_id}/close       {note}
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
import structlog
from aiohttp import web

from dashboards.timerange import SHANGHAI
from schemas import events
from services.ingest.producer import EventProducer
from services.problems import Problem
from services.registry import Session
from services.regulator.console import SITE_ID, Console, json_response
from streams.compliance.catalogue import Catalogue
from streams.read_models import OPEN_NOW, raised
from streams.settings import Settings
from streams.topics import partition_for
from streams.warehouse import literal

log = structlog.get_logger("tongfang.desk")
_RULE = re.compile(r"^[A-Z]+(-[A-Z]+)*$")
SEVERITY_RANK = "multiIf(severity = 'critical', 0, severity = 'major', 1, 2)"
ACTIONS = {"acknowledge": "alert.acknowledged", "assign": "alert.assigned", "close": "alert.closed"}


class Publisher(Protocol):
    async def publish(self, site_id: str, value: bytes) -> None:
        """Append one event to the events topic on the site's partition; return once Kafka has it."""


class Desk:
    def __init__(self, console: Console, publisher: Publisher | None, catalogue: Catalogue) -> None:
        self.console, self.publisher, self.catalogue = console, publisher, catalogue
        self.late_after = catalogue.late_after

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await self.console.page_file(request, "desk.html")

    async def alerts(self, request: web.Request) -> web.Response:
        session = self.console.signed_in(request)
        scope = literal(session.regulator.jurisdiction)
        conditions = [OPEN_NOW, f"startsWith(division_code, {scope})"]
        severity = request.query.get("severity")
        if severity:
            if severity not in ("critical", "major", "minor"):
                raise Problem(422, "severity", "expected critical, major or minor")
            conditions.append(f"severity = {literal(severity)}")
        for name, pattern, column in (("rule", _RULE, "rule_id"), ("site", SITE_ID, "site_id")):
            value = request.query.get(name)
            if value:
                if not pattern.match(value):
                    raise Problem(422, name, "not a valid rule or site id")
                conditions.append(f"{column} = {literal(value)}")
        state = request.query.get("state", "pending")
        if state not in ("pending", "closed", "all"):
            raise Problem(422, "state", "expected pending, closed or all")
        desk_state = {"pending": "AND desk_state != 'closed'", "closed": "AND desk_state = 'closed'", "all": ""}[state]
        rows = await self.console.rows(
            "SELECT toString(a.alert_id) AS alert_id, rule_id, severity, title_zh, a.site_id AS site_id, "
            "s.site_name AS site_name, a.enterprise_id AS enterprise_id, a.division_code AS division_code, "
            "subject_kind, subject_id, formatDateTime(at, '%Y-%m-%d %H:%i') AS raised_at, "
            "formatDateTime(deadline, '%Y-%m-%d %H:%i') AS deadline, "
            "dateDiff('minute', at, now64(3)) AS age_minutes, late, "
            "d.desk_state AS desk_state, d.regulator_id AS last_regulator, d.assignee AS assignee, "
            "formatDateTime(d.due, '%Y-%m-%d %H:%i') AS due "
            f"FROM ({raised(' AND '.join(conditions))}) AS a "
            f"LEFT JOIN ({desk_states(f'startsWith(division_code, {scope})')}) AS d ON d.alert_id = a.alert_id "
            f"LEFT JOIN ({_site_names(scope)}) AS s ON s.site_id = a.site_id "
            f"WHERE 1 {desk_state} ORDER BY {SEVERITY_RANK}, at LIMIT 500"
        )
        for row in rows:
            row["division_label"] = self.console.divisions.label(row["division_code"])
        return json_response({"jurisdiction": session.regulator.jurisdiction, "count": len(rows), "alerts": rows})

    async def alert(self, request: web.Request) -> web.Response:
        session = self.console.signed_in(request)
        found = await self._alert(session, request.match_info["alert_id"])
        raised = found[0]
        evidence_sql = self._evidence_sql(raised)
        evidence_rows = await self.console.rows(evidence_sql) if evidence_sql else []
        for row in evidence_rows:
            row["payload"] = orjson.loads(row["payload"])
            row["late"] = row["delay_s"] > self.late_after.total_seconds()
        history = await self.console.rows(
            "SELECT toString(event_id) AS event_id, action, regulator_id, assignee_enterprise_id, "
            "formatDateTime(occurred_at, '%Y-%m-%d %H:%i:%S') AS at, "
            "formatDateTime(alert_actions.due, '%Y-%m-%d %H:%i') AS due, "
            f"note FROM alert_actions WHERE alert_id = toUUID({literal(raised['alert_id'])}) "
            f"AND startsWith(division_code, {literal(session.regulator.jurisdiction)}) "
            "ORDER BY occurred_at, event_id LIMIT 1 BY event_id"
        )
        rule = self.catalogue.rules.get(raised["rule_id"])
        resolved = [row for row in found if row["alert_type"] == "alert.resolved"]
        return json_response(
            {
                **raised,
                "division_label": self.console.divisions.label(raised["division_code"]),
                "rule_title": rule.title.zh if rule else raised["title_zh"],
                "rule_description": rule.description.zh if rule else "",
                "resolved": resolved[0] if resolved else None,
                "evidence_events": evidence_rows,
                "history": history,
                "state": history[-1]["action"] if history else "",
            }
        )

    def _evidence_sql(self, raised: dict[str, Any]) -> str:
        """The records an alert rests on: its evidence events; for LEDGER-LATE, every record of its
        site and day that came late, as many as came (the alert is raised by the first)."""
        columns = (
            "SELECT toString(event_id) AS event_id, event_type, "
            "formatDateTime(occurred_at, '%Y-%m-%d %H:%i:%S') AS occurred_at, "
            "formatDateTime(received_at, '%Y-%m-%d %H:%i:%S') AS received_at, "
            "dateDiff('second', raw_events.occurred_at, raw_events.received_at) AS delay_s, payload FROM raw_events "
        )
        site = literal(raised["site_id"])
        if raised["rule_id"] == "LEDGER-LATE" and raised["subject_kind"] == "site":
            details = raised.get("details") or {}
            details = orjson.loads(details) if isinstance(details, str) else details
            allowed = int(details.get("max_delay_hours", self.late_after.total_seconds() / 3600) * 3600)
            delay = "dateDiff('second', raw_events.occurred_at, raw_events.received_at)"
            return (
                f"{columns} WHERE site_id = {site} AND toDate(raw_events.occurred_at) = "
                f"toDate({literal(raised['subject_id'])}) AND {delay} > {allowed} "
                "ORDER BY raw_events.occurred_at LIMIT 1 BY event_id LIMIT 500"
            )
        evidence = [value for value in raised["evidence"] if _is_uuid(value)]
        if not evidence:
            return ""
        return (
            f"{columns} WHERE site_id = {site} AND event_id IN ({', '.join(map(literal, evidence))}) "
            "ORDER BY raw_events.occurred_at LIMIT 1 BY event_id"
        )

    async def act(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise Problem(422, "$", "expected a JSON object") from None
        if not isinstance(body, dict):
            raise Problem(422, "$", "expected a JSON object")
        session = self.console.checked_post(request)
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise Problem(404, "action", "expected acknowledge, assign or close")
        if self.publisher is None:
            raise Problem(503, "action", "the alert desk needs Kafka, which this service was started without")
        (raised, *_) = await self._alert(session, request.match_info["alert_id"])
        history = await self.console.rows(
            f"SELECT action FROM alert_actions WHERE alert_id = toUUID({literal(raised['alert_id'])}) "
            "AND action = 'closed' LIMIT 1"
        )
        if history:
            raise Problem(409, "alert_id", "this alert was closed at the desk already")
        payload = await self._payload(session, raised, action, body)
        event_id = await record(self.publisher, ACTIONS[action], raised["enterprise_id"], raised["site_id"], payload)
        log.info("desk_action", action=action, alert=raised["alert_id"], regulator=session.regulator.regulator_id)
        return json_response({"event_id": event_id, "event_type": ACTIONS[action]}, status=202)

    async def _payload(self, session: Session, raised: dict[str, Any], action: str, body: dict[str, Any]) -> Any:
        note = body.get("note", "")
        if not isinstance(note, str):
            raise Problem(422, "note", "expected text")
        payload: dict[str, Any] = {
            "alert_id": raised["alert_id"],
            "regulator_id": session.regulator.regulator_id,
            "note": note.strip(),
        }
        if action == "close" and not payload["note"]:
            raise Problem(422, "note", "say how the alert was settled (办结说明) before closing it")
        if action != "assign":
            return payload
        enterprise = body.get("enterprise_id") or raised["enterprise_id"]
        if not isinstance(enterprise, str) or not SITE_ID.match(enterprise):
            raise Problem(422, "enterprise_id", "not a valid enterprise id")
        known = await self.console.rows(
            f"SELECT 1 FROM sites WHERE enterprise_id = {literal(enterprise)} "
            f"AND startsWith(division_code, {literal(session.regulator.jurisdiction)}) LIMIT 1"
        )
        if not known:
            raise Problem(422, "enterprise_id", "no enterprise of that id has sites in your jurisdiction")
        payload["assignee_enterprise_id"] = enterprise
        payload["due"] = _due(body.get("due")).isoformat()
        return payload

    async def _alert(self, session: Session, alert_id: str) -> list[dict[str, Any]]:
        """The alert's raised row first (and its resolution), if it is in the jurisdiction; else 404."""
        if not _is_uuid(alert_id):
            raise Problem(404, "alert_id", "no such alert in your jurisdiction")
        rows = await self.console.rows(
            "SELECT toString(alerts.alert_id) AS id, alert_type, rule_id, severity, title_zh, site_id, enterprise_id, "
            "division_code, subject_kind, subject_id, formatDateTime(at, '%Y-%m-%d %H:%i:%S') AS at, "
            "formatDateTime(deadline, '%Y-%m-%d %H:%i') AS deadline, profile, late, late_reason, evidence, details "
            f"FROM alerts WHERE alert_id = toUUID({literal(alert_id)}) "
            f"AND startsWith(division_code, {literal(session.regulator.jurisdiction)}) "
            "ORDER BY alert_type = 'alert.resolved', at LIMIT 1 BY alert_type"
        )
        if not rows or rows[0]["alert_type"] != "alert.raised":
            raise Problem(404, "alert_id", "no such alert in your jurisdiction")
        return [{"alert_id": row.pop("id"), **row} for row in rows]


def desk_states(condition: str) -> str:
    """Per alert of `condition`: the desk's last action (acknowledged, assigned, closed), who took it
    and its note, and the latest assignment's enterprise and due time."""
    return (
        "SELECT alert_id, argMax(action, (occurred_at, event_id)) AS desk_state, "
        "argMax(regulator_id, (occurred_at, event_id)) AS regulator_id, "
        "argMaxIf(assignee_enterprise_id, occurred_at, action = 'assigned') AS assignee, "
        "argMaxIf(due, occurred_at, action = 'assigned') AS due, "
        "argMax(note, (occurred_at, event_id)) AS note "
        f"FROM alert_actions WHERE {condition} GROUP BY alert_id"
    )


async def record(publisher: Publisher, event_type: str, enterprise_id: str, site_id: str, payload: Any) -> str:
    """A regulator's action as an event of the site, validated by the contract and on Kafka; its id.
    Refused (422, naming the payload's field) before anything is sent; 503 when Kafka did not take it."""
    now = datetime.now(SHANGHAI).isoformat()
    event_id = str(uuid.uuid4())
    value = orjson.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": now,
            "received_at": now,
            "enterprise_id": enterprise_id,
            "site_id": site_id,
            "payload": payload,
        }
    )
    try:
        events.decode(value)
    except events.InvalidEvent as exc:
        raise Problem(422, exc.field.removeprefix("payload."), exc.reason) from None
    try:
        await publisher.publish(site_id, value)
    except Exception as exc:
        log.warning("publish_failed", event_type=event_type, error=str(exc))
        raise Problem(503, "$", "Kafka did not take it; nothing was recorded, try again") from None
    return event_id


def _site_names(scope: str) -> str:
    return (
        "SELECT site_id, argMax(name, registered_at) AS site_name FROM sites "
        f"WHERE startsWith(division_code, {scope}) GROUP BY site_id"
    )


def _due(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Problem(422, "due", "expected the due time, e.g. 2026-12-08T18:00")
    try:
        due = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(422, "due", "expected the due time, e.g. 2026-12-08T18:00") from None
    due = due if due.tzinfo else due.replace(tzinfo=SHANGHAI)
    if due < datetime.now(SHANGHAI) - timedelta(minutes=1):
        raise Problem(422, "due", "is in the past")
    return due


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class KafkaPublisher:
    """Desk actions onto the events topic, each on its site's partition, acknowledged by all replicas.
    The producer connects at the first action, so the console starts and reads without Kafka."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: EventProducer | None = None
        self._partitions = 0

    async def publish(self, site_id: str, value: bytes) -> None:
        if self._producer is None:
            self._producer = await asyncio.to_thread(EventProducer, self._settings)
            self._partitions = await asyncio.to_thread(self._producer.partitions)
        await self._producer.send(site_id.encode(), value, partition_for(site_id.encode(), self._partitions))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()


def add_routes(app: web.Application, desk: Desk) -> None:
    get: Callable[[str, Callable[[web.Request], Awaitable[web.StreamResponse]]], Any] = app.router.add_get
    get("/desk", desk.page)
    get("/api/alerts", desk.alerts)
    get("/api/alerts/{alert_id}", desk.alert)
    app.router.add_post("/api/alerts/{alert_id}/{action}", desk.act)
