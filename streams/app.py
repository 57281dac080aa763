"""The faust worker: events topic -> ClickHouse sink and compliance rules -> alerts.

Agents, one per topic: `events` holds each batch for its insert (bad records go to the dead-letter
topic and table), then folds it into per-site rule state and re-keys vehicle events;
`vehicle-rules` folds those per vehicle; `alert-sink` and `delivery-sink` store alerts and webhook
deliveries. Rule state lives in faust tables (changelog topics), keyed by "<partition>|<key>" so it
stays on the source partition.

When an offset may be committed, and in what order records are stored, alerts published and state
saved, is `streams.checkpoint`; this module wires it to faust's agents, timers and signals, and to
Kafka. faust's own parts we rely on or replace are behind `streams.faust_adapter`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import orjson
import structlog

from schemas.clock import CLOCK_KEY, encode_tick
from streams.checkpoint import Checkpoint, Folding, Held, in_thread
from streams.clickhouse_http import ClickHouseHttp
from streams.compliance.catalogue import Catalogue
from streams.faust_adapter.consumer import App
from streams.faust_adapter.stream import Stream, take_batches
from streams.faust_adapter.table import PartitionKeyedTable, TableStore
from streams.placement import signing_key
from streams.records import DeadLetter, Record, decode_records
from streams.row_sink import RowSink, alert_key, alert_row, delivery_row
from streams.rule_stream import Output, SiteRules, StateStore, VehicleRules
from streams.settings import Settings
from streams.sink import Sink
from streams.topics import kafka_reachable
from streams.warehouse import Reader, ReadPool, Warehouse, reader_password
from streams.watchdog import Watchdog, exit_stalled
from streams.web import Queries, adhoc_slots, register_pages

log = structlog.get_logger("tongfang.worker")

STORE_CHECK_SECONDS = 0.05  # how often held records are checked for a wait that is up
T = TypeVar("T")
Item = TypeVar("Item")


def create_app(settings: Settings, warehouse: Warehouse, catalogue: Catalogue, reads: Reader) -> faust.App:
    app = _faust_app(settings)

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    def state_table(name: str) -> StateStore:
        table = PartitionKeyedTable(
            app,
            name=name,
            beacon=app.tables.beacon,
            partitions=settings.topic_partitions,
            value_type=bytes,  # raw values: TableStore writes the JSON bytes itself
            help=f"compliance rule state ({name})",
        )
        app.tables.add(table)
        return TableStore(table, app.producer)

    events_topic, vehicles_topic = topic(settings.topic_events), topic(settings.topic_vehicles)
    deadletter_topic = topic(settings.topic_deadletter)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse")  # the one writer

    def in_warehouse(write: Callable[[list[Item]], T]) -> Callable[[list[Item]], Awaitable[T]]:
        return lambda items: in_thread("warehouse_insert", executor, lambda: write(items), app.retrying)

    sink = Sink(warehouse, settings.max_event_age)
    signing = signing_key(reader_password(settings))  # signs the origin of re-keyed events
    site_rules = SiteRules(
        catalogue, state_table("site-rule-state"), settings.max_event_age, settings.topic_partitions, signing
    )
    vehicle_rules = VehicleRules(catalogue, state_table("vehicle-rule-state"))
    site, vehicles = Folding(site_rules, settings.topic_events), Folding(vehicle_rules, settings.topic_vehicles)
    checkpoint = Checkpoint(
        held=Held(settings.sink_insert_min_events, settings.sink_insert_max_wait_seconds),
        insert=in_warehouse(sink.store),
        publish=lambda out: _publish(app, settings, out),
        park=lambda letters: _park(deadletter_topic, letters),
        stored_topic=settings.topic_events,
        foldings=(site, vehicles),
        save_seconds=settings.rule_save_seconds,
        stored=app.stored,
        saved=app.saved,
        retrying=app.retrying,
    )

    # One agent per topic: faust may hand a record fetched during start-up to the agents already
    # subscribed, and its offset is committed once they ack; a second agent on the same topic
    # could miss it. So each batch of events is decoded once, held for its insert and folded at
    # once; the insert runs in the warehouse thread beside the rules (chDB releases the GIL), and
    # a batch that starts one is acknowledged when both are done.
    @app.agent(events_topic, name="events")
    async def on_events(stream: faust.StreamT[bytes]) -> None:
        async for batch in take_batches(stream, settings.sink_batch_records, settings.sink_flush_seconds):
            records = [_record(event) for event in batch]
            decoded = decode_records(records, settings.max_event_age, settings.topic_partitions, signing)
            storing = checkpoint.hold(decoded, time.monotonic())
            try:
                await checkpoint.fold(site, functools.partial(site_rules.fold, decoded))
            finally:
                if storing is not None:
                    await storing

    @app.agent(vehicles_topic, name="vehicle-rules")
    async def on_vehicle_events(stream: faust.StreamT[bytes]) -> None:
        async for batch in take_batches(stream, settings.sink_batch_records, settings.sink_flush_seconds):
            await checkpoint.fold(vehicles, functools.partial(vehicle_rules.fold, [_record(e) for e in batch]))

    alert_rows = RowSink(warehouse, "alerts", alert_row, ("toString(alert_id) || alert_type", alert_key))
    delivery_rows = RowSink(warehouse, "alert_deliveries", delivery_row, None)
    _row_agent(app, topic(settings.topic_alerts), "alert-sink", in_warehouse(alert_rows.write), settings)
    _row_agent(app, topic(settings.topic_deliveries), "delivery-sink", in_warehouse(delivery_rows.write), settings)

    @app.timer(STORE_CHECK_SECONDS)  # type: ignore[untyped-decorator]
    async def store_when_due() -> None:
        await checkpoint.store_when_due(time.monotonic())

    if settings.rule_save_seconds > 0:
        app.timer(settings.rule_save_seconds)(checkpoint.save_when_idle)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await checkpoint.hand_back(args[0])

    if settings.clock_tick_seconds > 0:

        @app.timer(settings.clock_tick_seconds, on_leader=True)  # type: ignore[untyped-decorator]
        async def tick() -> None:
            value = encode_tick(datetime.now(UTC))
            for partition in range(settings.topic_partitions):
                await events_topic.send(key=CLOCK_KEY, value=value, partition=partition)

    watchdog = _watchdog(app, settings)

    def report() -> dict[str, object]:
        return {
            **asdict(checkpoint.stats),
            "site_rules": site_rules.footprint(),
            "vehicle_rules": vehicle_rules.footprint(),
            "watchdog": watchdog.report() if watchdog.is_alive() else None,
        }

    _register_web(app, settings, reads, executor, report)
    return app


def _faust_app(settings: Settings) -> App:
    return App(
        settings.worker_group,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        Stream=Stream,
        datadir=str(settings.data_dir / "faust"),  # not "<app id>-data" in the working directory
        web_enabled=True,
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_batch_size=1024 * 1024,  # alerts come in thousands per batch of events
        broker_commit_interval=1.0,
        broker_session_timeout=settings.worker_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.worker_session_timeout / 3),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        fetch_wait_ms=settings.worker_fetch_wait_ms,
        consumer_max_fetch_size=settings.worker_fetch_bytes,
    )


async def _publish(app: App, settings: Settings, out: Output) -> None:
    """Send alerts and re-keyed records and wait for the acks, before rule state is saved."""
    messages: list[tuple[str, bytes, bytes, int | None]] = [
        (settings.topic_alerts, key, value, None) for key, value in out.alert_records()
    ]
    messages += [(settings.topic_vehicles, key, value, None) for key, value in out.forwards]
    messages += [
        (settings.topic_vehicles, key, value, partition)
        for key, value in out.broadcasts
        for partition in range(settings.topic_partitions)
    ]
    # Straight to the producer: faust's Topic.send costs about a millisecond a message (bench/HISTORY.md).
    pending = [
        await app.producer.send(topic, key, value, partition, None, None) for topic, key, value, partition in messages
    ]
    pending += [
        await app.producer.send(settings.topic_events, copy.key, copy.value, copy.partition, None, copy.headers)
        for copy in out.rekeyed
    ]
    await asyncio.gather(*pending)


async def _park(deadletter_topic: faust.TopicT, letters: list[DeadLetter]) -> None:
    """Publish the letters (already stored in dead_letters); a failed publish must not stall the partition."""
    for letter in letters:
        try:
            await (await deadletter_topic.send(key=letter.record.key, value=_dead_letter_value(letter)))
        except Exception as exc:  # the letter is in ClickHouse; say so and go on
            log.error("dead_letter_publish_failed", offset=letter.record.offset, error=repr(exc))
        log.info(
            "event_parked",
            partition=letter.record.partition,
            offset=letter.record.offset,
            index=letter.index,
            event_id=letter.event_id,
            field=letter.field,
            reason=letter.reason,
        )


def _row_agent(
    app: App, topic: faust.TopicT, name: str, write: Callable[[list[Record]], Awaitable[int]], settings: Settings
) -> None:
    """An agent storing each batch of `topic` as rows (alerts, deliveries): stored before acknowledged."""

    @app.agent(topic, name=name)
    async def store_rows(stream: faust.StreamT[bytes]) -> None:
        async for batch in take_batches(stream, settings.sink_batch_records, settings.alert_flush_seconds):
            await write([_record(event) for event in batch])


def _watchdog(app: App, settings: Settings) -> Watchdog:
    """The thread that ends a worker whose consumer makes no progress without a reason (`streams.watchdog`)."""
    watched = {settings.topic_events, settings.topic_vehicles, settings.topic_alerts, settings.topic_deliveries}
    watchdog = Watchdog(
        settings.kafka_bootstrap,
        settings.worker_group,
        lambda: [(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in watched],
        app.waiting_for,
        settings.worker_stall_seconds,
        exit_stalled,
    )
    if settings.worker_stall_seconds > 0:

        @app.task  # type: ignore[untyped-decorator]
        async def start_watchdog() -> None:
            watchdog.start()  # once the worker runs: the thread reads its consumer's assignment

    return watchdog


def _register_web(
    app: App, settings: Settings, reads: Reader, writer: ThreadPoolExecutor, report: Callable[[], dict[str, object]]
) -> None:
    """The worker's pages: health, its report, and the reads it answers for other processes."""
    # With no read connections of their own, reads wait in the warehouse thread as `after_inserts` ones do.
    beside = (
        ThreadPoolExecutor(max_workers=settings.worker_read_connections, thread_name_prefix="warehouse-read")
        if settings.worker_read_connections
        else writer
    )
    raw = reads if isinstance(reads, ReadPool) and settings.warehouse == "chdb" else None
    adhoc = adhoc_slots(settings.worker_read_connections)
    clickhouse = ClickHouseHttp(raw, beside, reader_password(settings), adhoc)
    queries = Queries(reads, beside, writer, adhoc)
    register_pages(app, queries, clickhouse, report, lambda: kafka_reachable(settings.kafka_bootstrap))


def _record(event: faust.EventT[bytes]) -> Record:
    message = event.message
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        timestamp_ms=int(message.timestamp * 1000),
        headers=_headers(message.headers),
    )


def _headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """faust hands a record's headers as a list of pairs or a mapping (or None)."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)


def _dead_letter_value(letter: DeadLetter) -> bytes:
    row: dict[str, Any] = letter.row()
    row.pop("preview")
    return orjson.dumps(row)
