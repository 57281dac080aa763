"""The notifier: alerts and desk notices -> webhooks, each once per route, with retries.

Reads the alerts topic and, for the desk's assignments (督办) and reminders (未报送), the events
topic (services/notify/notices.py), in its own consumer group, and commits offsets only after
every notice of a batch was delivered or finally failed. A delivery is looked up in the ledger
first (a notice replayed after a crash is not sent again), retried with exponential backoff on
network errors, 5xx and 429, and recorded in the ledger and on the deliveries topic (the worker
stores it in ClickHouse). Receivers also get the header X-Tongfang-Alert-Id (an alert's
"<id>/<kind>") or X-Tongfang-Notice-Id (a desk event's) to drop repeats on their side.

The events topic carries every event: a record is decoded only when its bytes name a desk
notice's type. A desk notice older than `NOTICE_MAX_AGE` is skipped (counted in `stale`): a
notifier meeting the log for the first time does not send last month's reminders.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import msgspec
import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas.alerts import AnyAlert
from services.notify.ledger import Ledger
from services.notify.notices import DESK_KINDS, DeskEvent, Lookup, Notice, alert_notice, body
from services.notify.routes import Route, Routes
from streams.settings import Settings

log = structlog.get_logger("tongfang.notify")
_decoder: msgspec.json.Decoder[AnyAlert] = msgspec.json.Decoder(AnyAlert)
_desk_event: msgspec.json.Decoder[DeskEvent] = msgspec.json.Decoder(DeskEvent)
_DESK_MARKERS = tuple(f'"{kind}"'.encode() for kind in DESK_KINDS)
NOTICE_MAX_AGE = timedelta(days=1)


class Retryable(Exception):
    """A delivery attempt that may succeed later (network error, 5xx, 429)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class NotifyStats:
    alerts: int = 0
    delivered: int = 0
    failed: int = 0
    skipped_repeats: int = 0
    notices: int = 0
    stale: int = 0
    by_route: dict[str, int] = field(default_factory=dict)


class Notifier:
    def __init__(self, settings: Settings, routes: Routes, ledger: Ledger, lookup: Lookup) -> None:
        self.settings = settings
        self.routes = routes
        self.ledger = ledger
        self.lookup = lookup
        self.stats = NotifyStats()
        self._producer: AIOKafkaProducer | None = None
        self._http: aiohttp.ClientSession | None = None

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.topic_alerts,
            self.settings.topic_events,
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.settings.notify_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        await consumer.start()
        await self._producer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batches.values():
                    for record in records:
                        await self.handle(record)
                if batches:
                    await consumer.commit()
        finally:
            await consumer.stop()
            await self._producer.stop()
            await self._http.close()

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.topic == self.settings.topic_alerts:
            try:
                notices = [alert_notice(_decoder.decode(record.value or b""))]
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("alert_unreadable", offset=record.offset, error=str(exc))
                return
            self.stats.alerts += 1
        else:
            notices = [await self.lookup.notice(event) for event in self._desk_events(record.value or b"")]
            self.stats.notices += len(notices)
        for notice in notices:
            for route in self.routes.for_notice(notice):
                if self.ledger.done(notice.key, notice.kind, route.name):
                    self.stats.skipped_repeats += 1
                    continue
                await self._deliver(notice, route)

    def _desk_events(self, value: bytes) -> list[DeskEvent]:
        """The recent desk notices in an events record (an event, or an array of them); others are
        not decoded, and what does not decode is the worker's to park, not the notifier's."""
        if not any(marker in value for marker in _DESK_MARKERS):
            return []
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return []
        events: list[DeskEvent] = []
        for item in decoded if isinstance(decoded, list) else [decoded]:
            if not isinstance(item, dict) or item.get("event_type") not in DESK_KINDS:
                continue  # another family's event in the same record
            try:
                event = _desk_event.decode(orjson.dumps(item))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if datetime.now(UTC) - event.occurred_at > NOTICE_MAX_AGE:
                self.stats.stale += 1
                continue
            events.append(event)
        return events

    async def _deliver(self, notice: Notice, route: Route) -> None:
        assert self._producer is not None, "run() starts the producer"
        attempts, status, error = 0, 0, ""
        data = orjson.dumps(body(notice, route.format))
        headers = {"Content-Type": "application/json"}
        if notice.alert is not None:
            headers["X-Tongfang-Alert-Id"] = f"{notice.key}/{notice.kind}"
        else:
            headers["X-Tongfang-Notice-Id"] = f"{notice.key}/{notice.kind}"
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.settings.notify_max_attempts),
                wait=wait_exponential(multiplier=0.2, max=30),
                retry=retry_if_exception_type(Retryable),
            ):
                with attempt:
                    attempts += 1
                    status = await self._post(route.url, data, headers)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            status = last.status if isinstance(last, Retryable) else 0
            error = str(last)
        except _Rejected as exc:
            status, error = exc.status, str(exc)
        delivered = not error
        self.ledger.record(notice.key, notice.kind, route.name, "delivered" if delivered else "failed", attempts)
        await self._producer.send_and_wait(
            self.settings.topic_deliveries,
            orjson.dumps(
                {
                    "alert_id": notice.alert_id,
                    "alert_type": notice.kind,
                    "route": route.name,
                    "status": "delivered" if delivered else "failed",
                    "attempts": attempts,
                    "http_status": status,
                    "error": error[:500],
                    "delivered_at": datetime.now(UTC).isoformat(),
                }
            ),
            key=notice.alert_id.encode(),
        )
        if delivered:
            self.stats.delivered += 1
            self.stats.by_route[route.name] = self.stats.by_route.get(route.name, 0) + 1
        else:
            self.stats.failed += 1
        log.info(
            "alert_delivery",
            alert_id=notice.alert_id,
            type=notice.kind,
            route=route.name,
            delivered=delivered,
            attempts=attempts,
            status=status,
        )

    async def _post(self, url: str, data: bytes, headers: dict[str, str]) -> int:
        assert self._http is not None, "run() opens the HTTP session"
        try:
            async with self._http.post(url, data=data, headers=headers) as response:
                if response.status < 300:
                    return response.status
                text = (await response.text())[:200]
                if response.status >= 500 or response.status == 429:
                    raise Retryable(response.status, f"HTTP {response.status}: {text}")
                raise _Rejected(response.status, f"HTTP {response.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retryable(0, f"{type(exc).__name__}: {exc}") from None


class _Rejected(Exception):
    """The receiver refused the message (4xx other than 429): retrying will not help."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
