"""The faust worker: events topic -> ClickHouse sink, bad records -> dead-letter topic and table.

Offsets are committed only for records whose batch was stored: `take_events` acks a batch after
the loop body returns, and the body retries the insert until it succeeds rather than raise (an
exception would end the generator, whose cleanup acks the batch). A SIGKILL therefore replays the
uncommitted records, and the sink's dedupe makes the replay harmless.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import faust
import orjson
import structlog
from tenacity import AsyncRetrying, stop_never, wait_exponential

from deploy.settings import Settings
from streams.sink import DeadLetter, Record, Sink, SinkResult
from streams.warehouse import Warehouse
from streams.web import register_pages

log = structlog.get_logger("tongfang.worker")


@dataclass
class SinkStats:
    batches: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    parked: int = 0
    last_batch_at: float = 0.0

    def add(self, records: int, result: SinkResult) -> None:
        self.batches += 1
        self.records += records
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.parked += len(result.parked)
        self.last_batch_at = time.time()


def create_app(settings: Settings, warehouse: Warehouse) -> faust.App:
    app = faust.App(
        "tongfang-worker",
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        web_enabled=True,
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        topic_allow_declare=False,
    )
    events_topic = app.topic(settings.topic_events, key_serializer="raw", value_serializer="raw")
    deadletter_topic = app.topic(settings.topic_deadletter, key_serializer="raw", value_serializer="raw")
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse")
    sink = Sink(warehouse)
    stats = SinkStats()

    async def store(records: list[Record]) -> SinkResult:
        loop = asyncio.get_running_loop()
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=30),
            stop=stop_never,
            before_sleep=lambda state: log.warning(
                "warehouse_insert_retry",
                attempt=state.attempt_number,
                error=str(state.outcome.exception() if state.outcome else None),
            ),
        ):
            with attempt:
                return await loop.run_in_executor(executor, sink.write, records)
        raise AssertionError("unreachable: the retry loop never stops")

    async def park(letters: list[DeadLetter]) -> None:
        pending = [
            await deadletter_topic.send(key=letter.record.key, value=_dead_letter_value(letter)) for letter in letters
        ]
        await asyncio.gather(*pending)
        for letter in letters:
            log.info(
                "event_parked",
                partition=letter.record.partition,
                offset=letter.record.offset,
                index=letter.index,
                event_id=letter.event_id,
                field=letter.field,
                reason=letter.reason,
            )

    @app.agent(events_topic, name="sink")
    async def sink_events(stream: faust.StreamT[bytes]) -> None:
        # take_events is on faust's Stream; the StreamT protocol does not declare it.
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.sink_batch_records, within=settings.sink_flush_seconds
        )
        async for batch in batches:
            records = [_record(event) for event in batch]
            result = await store(records)
            await park(result.parked)
            stats.add(len(records), result)
            log.debug("batch_stored", records=len(records), stored=result.stored, duplicates=result.duplicates)

    register_pages(app, warehouse, executor, lambda: asdict(stats))
    return app


def _record(event: faust.EventT[bytes]) -> Record:
    message = event.message
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        timestamp_ms=int(message.timestamp * 1000),
    )


def _dead_letter_value(letter: DeadLetter) -> bytes:
    row: dict[str, Any] = letter.row()
    row.pop("preview")
    return orjson.dumps(row)
