"""The notifier: alerts topic -> webhooks, each alert once per route, with retries.

Reads alerts in its own consumer group and commits offsets only after every alert of a batch
was delivered or finally failed. A delivery is looked up in the ledger first (an alert replayed
after a crash is not sent again), retried with exponential backoff on network errors, 5xx and
429, and recorded in the ledger and on the deliveries topic (the worker stores it in ClickHouse).
Receivers also get the header X-Tongfang-Alert-Id to drop repeats on their side.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import msgspec
import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt, wait_exponential

from deploy.settings import Settings
from schemas.alerts import AlertRaised, AnyAlert
from services.notify.ledger import Ledger
from services.notify.messages import body
from services.notify.routes import Route, Routes

log = structlog.get_logger("tongfang.notify")
_decoder: msgspec.json.Decoder[AnyAlert] = msgspec.json.Decoder(AnyAlert)


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
    by_route: dict[str, int] = field(default_factory=dict)


class Notifier:
    def __init__(self, settings: Settings, routes: Routes, ledger: Ledger) -> None:
        self.settings = settings
        self.routes = routes
        self.ledger = ledger
        self.stats = NotifyStats()
        self._producer: AIOKafkaProducer | None = None
        self._http: aiohttp.ClientSession | None = None

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.topic_alerts,
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
        try:
            alert = _decoder.decode(record.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("alert_unreadable", offset=record.offset, error=str(exc))
            return
        self.stats.alerts += 1
        alert_type = "alert.raised" if isinstance(alert, AlertRaised) else "alert.resolved"
        for route in self.routes.for_alert(alert):
            if self.ledger.done(alert.alert_id, alert_type, route.name):
                self.stats.skipped_repeats += 1
                continue
            await self._deliver(alert, alert_type, route)

    async def _deliver(self, alert: AnyAlert, alert_type: str, route: Route) -> None:
        assert self._producer is not None, "run() starts the producer"
        attempts, status, error = 0, 0, ""
        data = orjson.dumps(body(alert, route.format))
        headers = {"Content-Type": "application/json", "X-Tongfang-Alert-Id": f"{alert.alert_id}/{alert_type}"}
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
        self.ledger.record(alert.alert_id, alert_type, route.name, "delivered" if delivered else "failed", attempts)
        await self._producer.send_and_wait(
            self.settings.topic_deliveries,
            orjson.dumps(
                {
                    "alert_id": alert.alert_id,
                    "alert_type": alert_type,
                    "route": route.name,
                    "status": "delivered" if delivered else "failed",
                    "attempts": attempts,
                    "http_status": status,
                    "error": error[:500],
                    "delivered_at": datetime.now(UTC).isoformat(),
                }
            ),
            key=alert.alert_id.encode(),
        )
        if delivered:
            self.stats.delivered += 1
            self.stats.by_route[route.name] = self.stats.by_route.get(route.name, 0) + 1
        else:
            self.stats.failed += 1
        log.info(
            "alert_delivery",
            alert_id=alert.alert_id,
            type=alert_type,
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
