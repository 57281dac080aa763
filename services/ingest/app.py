"""The ingest HTTP API: enterprises post events; each is accepted only once Kafka acked it (acks=all).

POST /v1/events       one event (JSON object) or a batch (JSON array), Bearer token of the enterprise
GET  /v1/assignments  alerts regulators assigned (督办) to the enterprise at the alert desk, newest first
GET  /health          liveness; 503 while Kafka is unreachable
GET  /openapi.json, /docs
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec
import structlog
from aiohttp import web

from schemas import events
from services.ingest.docs import docs_page
from services.ingest.intake import KafkaRecord, Outcome, assess, http_status, pack, summarize
from services.ingest.openapi import openapi_document
from services.ingest.producer import EventProducer
from services.problems import Problem, problems
from services.ratelimit import RateLimiter
from services.registry import Enterprise, Registry
from streams.settings import Settings
from streams.topics import kafka_reachable
from streams.warehouse import Reader, literal

log = structlog.get_logger("tongfang.ingest")
_json = msgspec.json.Encoder()


@dataclass
class Ingest:
    settings: Settings
    registry: Registry
    producer: EventProducer
    in_flight: set[uuid.UUID] = field(default_factory=set)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 0))
    reader: Reader | None = None

    async def assignments(self, request: web.Request) -> web.Response:
        enterprise = self._authenticate(request)
        if self.reader is None:
            raise Problem(503, "$", "assignments need the warehouse, which this service was started without")
        rows = await asyncio.to_thread(self.reader.query, assignments_sql(enterprise.enterprise_id))
        return _json_response({"enterprise_id": enterprise.enterprise_id, "count": len(rows), "assignments": rows}, 200)

    async def post_events(self, request: web.Request) -> web.Response:
        enterprise = self._authenticate(request)
        raws = await self._read_events(request)
        intake = assess(raws, enterprise, self.registry, self.in_flight, max_age=self.settings.max_event_age)
        outcomes = {outcome.index: outcome for outcome in intake.outcomes}
        backfill = _flag(request, "backfill")
        records = pack(intake.accepted, self.settings.record_max_events, self.producer.partitions(), backfill)
        await self._produce(enterprise, records, outcomes)
        ordered = [outcomes[index] for index in sorted(outcomes)]
        response = summarize(ordered)
        log.info(
            "events_posted",
            enterprise=enterprise.enterprise_id,
            accepted=response.accepted,
            duplicates=response.duplicates,
            rejected=response.rejected,
            failed=response.failed,
        )
        return _json_response(response, http_status(ordered))

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

    def _authenticate(self, request: web.Request) -> Enterprise:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        enterprise = self.registry.authenticate(token.strip()) if scheme.lower() == "bearer" and token else None
        if enterprise is None:
            raise Problem(401, "Authorization", "a valid Bearer token of an enterprise is required")
        wait = self.limiter.take(enterprise.enterprise_id)
        if wait > 0:
            raise Problem(429, "Authorization", f"too many requests for this token; retry in {wait:.1f} s")
        return enterprise

    async def _read_events(self, request: web.Request) -> list[msgspec.Raw]:
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


def _json_response(body: object, status: int) -> web.Response:
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
    settings: Settings, registry: Registry, producer: EventProducer, reader: Reader | None = None
) -> web.Application:
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
            return _json_response({"status": "unavailable", "kafka": f"unreachable at {settings.kafka_bootstrap}"}, 503)
        return _json_response({"status": "ok", "kafka": "ok"}, 200)

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
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    return app
