"""The ingest HTTP API: enterprises post events; each is accepted only once Kafka acked it (acks=all).

POST /v1/events       one event (JSON object) or a batch (JSON array), Bearer token of the enterprise
                      or of one of its site operators (its sites only, no registry events)
GET  /v1/assignments  alerts regulators assigned (督办) to the enterprise at the alert desk, newest first
POST /v1/operators    {label, sites}: a site operator's account, its token shown once (enterprise only)
GET  /v1/operators    the enterprise's operator accounts; DELETE /v1/operators/{id} revokes one
POST /v1/imports      a ledger file (.xlsx or .csv template, services/ingest/ledgers.py), row by row
GET  /v1/imports/{id}/errors.csv, /results.csv   what an import did not store, and every row's result
GET  /app             the branches' workbench (services/ingest/workbench.py)
GET  /health          liveness; 503 while Kafka is unreachable
GET  /openapi.json, /docs
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import msgspec
import structlog
from aiohttp import web

from dashboards.timerange import SHANGHAI
from schemas import events
from schemas.envelope import Identifier
from services.ingest.docs import docs_page
from services.ingest.intake import KafkaRecord, Outcome, assess, http_status, pack, summarize
from services.ingest.openapi import openapi_document
from services.ingest.producer import EventProducer
from services.problems import Problem, problems
from services.ratelimit import RateLimiter
from services.registry import Enterprise, Operator, Registry, UnknownSites
from streams.compliance.catalogue import load as load_catalogue
from streams.settings import Settings
from streams.topics import kafka_reachable
from streams.warehouse import Reader, literal

log = structlog.get_logger("tongfang.ingest")
_json = msgspec.json.Encoder()


@dataclass(frozen=True)
class Credentials:
    """Who posts: an enterprise, or one of its site operators (scoped to its sites)."""

    enterprise: Enterprise
    operator: Operator | None = None


@dataclass
class Ingest:
    settings: Settings
    registry: Registry
    producer: EventProducer
    in_flight: set[uuid.UUID] = field(default_factory=set)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 0))
    reader: Reader | None = None

    async def assignments(self, request: web.Request) -> web.Response:
        enterprise = self._enterprise_only(request)
        if self.reader is None:
            raise Problem(503, "$", "assignments need the warehouse, which this service was started without")
        rows = await asyncio.to_thread(self.reader.query, assignments_sql(enterprise.enterprise_id))
        return json_response({"enterprise_id": enterprise.enterprise_id, "count": len(rows), "assignments": rows}, 200)

    async def post_events(self, request: web.Request) -> web.Response:
        credentials = self.authenticate(request)
        raws = await self.read_events(request)
        ordered = await self.store(credentials, raws, _flag(request, "backfill"))
        return json_response(summarize(ordered), http_status(ordered))

    async def store(self, credentials: Credentials, raws: list[msgspec.Raw], backfill: bool = False) -> list[Outcome]:
        """Each event's outcome, in posting order; the accepted ones are in Kafka (acks=all) on return."""
        enterprise = credentials.enterprise
        intake = assess(
            raws,
            enterprise,
            self.registry,
            self.in_flight,
            max_age=self.settings.max_event_age,
            operator=credentials.operator,
        )
        outcomes = {outcome.index: outcome for outcome in intake.outcomes}
        records = pack(intake.accepted, self.settings.record_max_events, self.producer.partitions(), backfill)
        await self._produce(enterprise, records, outcomes)
        ordered = [outcomes[index] for index in sorted(outcomes)]
        response = summarize(ordered)
        log.info(
            "events_posted",
            enterprise=enterprise.enterprise_id,
            operator=credentials.operator.operator_id if credentials.operator else None,
            accepted=response.accepted,
            duplicates=response.duplicates,
            rejected=response.rejected,
            failed=response.failed,
        )
        return ordered

    async def create_operator(self, request: web.Request) -> web.Response:
        enterprise = self._enterprise_only(request)
        try:
            body = msgspec.json.decode(await request.read(), type=OperatorRequest)
        except msgspec.ValidationError as exc:
            raise Problem(422, _path(exc), str(exc)) from None
        except msgspec.DecodeError as exc:
            raise Problem(422, "$", f"not JSON: {exc}") from None
        try:
            operator, token = self.registry.create_operator(enterprise.enterprise_id, body.label, body.sites)
        except UnknownSites as exc:
            raise Problem(422, "sites", str(exc).removeprefix("sites: ")) from None
        log.info("operator_created", enterprise=enterprise.enterprise_id, operator=operator.operator_id)
        return json_response({**_operator_json(operator), "token": token}, 201)

    async def list_operators(self, request: web.Request) -> web.Response:
        enterprise = self._enterprise_only(request)
        operators = [_operator_json(operator) for operator in self.registry.operators(enterprise.enterprise_id)]
        return json_response({"enterprise_id": enterprise.enterprise_id, "operators": operators}, 200)

    async def revoke_operator(self, request: web.Request) -> web.Response:
        enterprise = self._enterprise_only(request)
        operator_id = request.match_info["operator_id"]
        if not self.registry.revoke_operator(enterprise.enterprise_id, operator_id):
            raise Problem(404, "operator_id", "no such operator of this enterprise")
        log.info("operator_revoked", enterprise=enterprise.enterprise_id, operator=operator_id)
        return json_response({"operator_id": operator_id, "revoked": True}, 200)

    async def _produce(self, enterprise: Enterprise, records: list[KafkaRecord], outcomes: dict[int, Outcome]) -> None:
        ids = [event_id for record in records for event_id in record.event_ids]
        self.in_flight.update(ids)
        try:
            results = await asyncio.gather(
                *(self.producer.send(record.key, record.value, record.partition) for record in records),
                return_exceptions=True,
            )
        finally:
            self.in_flight.difference_update(ids)
        acked: list[uuid.UUID] = []
        for record, result in zip(records, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("kafka_send_failed", error=repr(result), events=len(record.indexes))
                for index, event_id in zip(record.indexes, record.event_ids, strict=True):
                    outcomes[index] = Outcome(
                        index,
                        "failed",
                        str(event_id),
                        "$",
                        "not acknowledged by Kafka; nothing was accepted, retry with the same event_id",
                        "unavailable",
                    )
            else:
                acked.extend(record.event_ids)
        self.registry.remember_event_ids(enterprise.enterprise_id, acked)

    def authenticate(self, request: web.Request) -> Credentials:
        """The enterprise or site operator whose Bearer token the request carries (rate-limited per enterprise)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        credentials = None
        if token.startswith("tfo_"):
            operator = self.registry.authenticate_operator(token)
            credentials = Credentials(operator.enterprise, operator) if operator else None
        elif token:
            enterprise = self.registry.authenticate(token)
            credentials = Credentials(enterprise) if enterprise else None
        if credentials is None:
            raise Problem(401, "Authorization", "a valid Bearer token of an enterprise or a site operator is required")
        self.take(credentials.enterprise.enterprise_id)
        return credentials

    def take(self, key: str) -> None:
        wait = self.limiter.take(key)
        if wait > 0:
            raise Problem(429, "Authorization", f"too many requests for this token; retry in {wait:.1f} s")

    def _enterprise_only(self, request: web.Request) -> Enterprise:
        credentials = self.authenticate(request)
        if credentials.operator is not None:
            raise Problem(403, "Authorization", "this needs the enterprise's token, not a site operator's")
        return credentials.enterprise

    async def read_events(self, request: web.Request) -> list[msgspec.Raw]:
        if request.content_type != "application/json":
            raise Problem(415, "Content-Type", f"expected application/json, got {request.content_type}")
        limit = self.settings.ingest_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Problem(413, "$", f"the body is larger than {limit} bytes; split it")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Problem(413, "$", f"the body is larger than {limit} bytes; split it") from None
        try:
            raws = events.split(body)
        except events.InvalidEvent as exc:
            raise Problem(422, exc.field, exc.reason) from None
        if not raws:
            raise Problem(422, "$", "the array holds no events")
        if len(raws) > self.settings.ingest_max_events:
            raise Problem(413, "$", f"at most {self.settings.ingest_max_events} events per request; split it")
        return raws


class OperatorRequest(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    sites: Annotated[list[Identifier], msgspec.Meta(min_length=1, max_length=500)]


def _operator_json(operator: Operator) -> dict[str, object]:
    return {
        "operator_id": operator.operator_id,
        "label": operator.label,
        "actor_id": operator.actor_id,
        "sites": sorted(operator.sites),
    }


def _path(exc: msgspec.ValidationError) -> str:
    """The field a msgspec error names (`... - at `$.sites[0]``), else the whole body."""
    message = str(exc)
    return message.rsplit("at `", 1)[1].rstrip("`") if "at `" in message else "$"


async def _forget_old_ids(registry: Registry, window_days: int) -> None:
    """Hourly, forget accepted ids older than the dedupe window (the warehouse still dedupes them)."""
    while True:
        forgotten = registry.forget_event_ids_before(time.time() - window_days * 86400)
        if forgotten:
            log.info("event_ids_forgotten", count=forgotten, window_days=window_days)
        await asyncio.sleep(3600)


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise Problem(422, name, "expected true or false")
    return value in ("true", "1")


def json_response(body: object, status: int) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def assignments_sql(enterprise_id: str) -> str:
    """Each assignment (督办) addressed to the enterprise, with its alert and whether the desk closed it."""
    mine = f"assignee_enterprise_id = {literal(enterprise_id)}"
    return (
        "SELECT toString(a.alert_id) AS alert_id, a.site_id AS site_id, r.rule_id AS rule_id, "
        "r.title_zh AS title_zh, r.subject_id AS subject_id, a.regulator_id AS regulator_id, "
        "formatDateTime(a.occurred_at, '%Y-%m-%dT%H:%i:%S+08:00') AS assigned_at, "
        "formatDateTime(a.due, '%Y-%m-%dT%H:%i:%S+08:00') AS due, a.note AS note, "
        "a.alert_id IN (SELECT alert_id FROM alert_actions WHERE action = 'closed') AS closed "
        f"FROM (SELECT * FROM alert_actions WHERE action = 'assigned' AND {mine} "
        "ORDER BY occurred_at DESC LIMIT 1 BY event_id) AS a "
        "LEFT JOIN (SELECT alert_id, any(rule_id) AS rule_id, any(title_zh) AS title_zh, any(subject_id) AS subject_id "
        "FROM alerts WHERE alert_type = 'alert.raised' AND alert_id IN (SELECT alert_id FROM alert_actions "
        f"WHERE {mine}) GROUP BY alert_id) AS r ON r.alert_id = a.alert_id "
        "ORDER BY a.occurred_at DESC LIMIT 1000"
    )


def create_app(
    settings: Settings,
    registry: Registry,
    producer: EventProducer,
    reader: Reader | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(SHANGHAI),
) -> web.Application:
    from services.ingest.workbench import Workbench, add_routes  # it builds on Ingest, defined here

    ingest = Ingest(
        settings,
        registry,
        producer,
        limiter=RateLimiter(settings.ingest_rate_per_second, settings.ingest_rate_burst),
        reader=reader,
    )
    app = web.Application(middlewares=[problems], client_max_size=settings.ingest_max_body_bytes + 1)
    document = _json.encode(openapi_document(settings))
    page = docs_page(settings)

    async def health(_: web.Request) -> web.Response:
        if not await asyncio.to_thread(kafka_reachable, settings.kafka_bootstrap):
            return json_response({"status": "unavailable", "kafka": f"unreachable at {settings.kafka_bootstrap}"}, 503)
        return json_response({"status": "ok", "kafka": "ok"}, 200)

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    async def docs(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def forget_old_ids(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_forget_old_ids(registry, settings.dedupe_window_days))
        yield
        task.cancel()

    app.cleanup_ctx.append(forget_old_ids)
    app.router.add_post("/v1/events", ingest.post_events)
    app.router.add_get("/v1/assignments", ingest.assignments)
    app.router.add_post("/v1/operators", ingest.create_operator)
    app.router.add_get("/v1/operators", ingest.list_operators)
    app.router.add_delete("/v1/operators/{operator_id}", ingest.revoke_operator)
    add_routes(app, Workbench(ingest, load_catalogue(), clock))
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    return app
