"""kafka-python's producer behind an awaitable `send`: the future resolves when the broker acked.

kafka-python runs its own I/O thread and reports delivery through callbacks on that thread; they
are handed back to the event loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kafka import KafkaProducer

from streams.settings import Settings


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topic_events
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id="tongfang-ingest",
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            # Fewer bytes over loopback, on the broker's disk and into the worker's fetch (bench/HISTORY.md).
            compression_type=settings.ingest_compression_type,
            batch_size=512 * 1024,
            max_request_size=8 * 1024 * 1024,
            max_block_ms=10_000,
            request_timeout_ms=15_000,
            delivery_timeout_ms=30_000,
        )
        # Fetch metadata now, so the first request does not pay for it.
        self._producer.partitions_for(self._topic)

    def partitions(self) -> int:
        """How many partitions the events topic has (grouping records by partition needs it)."""
        return len(self._producer.partitions_for(self._topic))

    def send(self, key: bytes, value: bytes, partition: int) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()

        def ok(metadata: Any) -> None:
            loop.call_soon_threadsafe(_resolve, done, metadata, None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_resolve, done, None, exc)

        self._producer.send(self._topic, key=key, value=value, partition=partition).add_callback(ok).add_errback(failed)
        return done

    def close(self) -> None:
        self._producer.flush(timeout=10)
        self._producer.close(timeout=10)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
