"""The faust worker: events topic -> ClickHouse sink and compliance rules -> alerts.

Agents, one per topic: `events` stores each batch (bad records go to the dead-letter topic and
table), then folds it into per-site rule state and re-keys vehicle events; `vehicle-rules` folds
those per vehicle; `alert-sink` and `delivery-sink` store alerts and webhook deliveries. Rule state lives in
faust tables (changelog topics), keyed by "<partition>|<key>" so it stays on the source partition.

Offsets are committed only for records that were stored and whose rule state was saved: the
events agent holds small batches back from their insert (`Pending`), rule state is saved at most
`rule_save_seconds` apart, and the commit stops at both (`streams.faust_adapter.consumer.App`'s gates). Inserts,
publishes and saves are retried until they succeed rather than raise (an exception would end the
agent's generator, whose cleanup acks the batch). A SIGKILL therefore replays the uncommitted
records, and the sink's dedupe and the rules' positions make the replay harmless. `streams.faust_adapter.consumer` keeps
faust's offset bookkeeping from committing past records that were dropped around a rebalance, and
reads such records again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import orjson
import structlog
from faust.types import TP
from tenacity import AsyncRetrying, RetryCallState, stop_never, wait_exponential

from schemas.clock import CLOCK_KEY, encode_tick
from streams.clickhouse_http import ClickHouseHttp
from streams.compliance.catalogue import Catalogue
from streams.faust_adapter.consumer import App
from streams.faust_adapter.stream import Stream, take_batches
from streams.faust_adapter.table import PartitionKeyedTable, TableStore
from streams.placement import signing_key
from streams.rule_stream import Output, SiteRules, StateStore, VehicleRules
from streams.settings import Settings
from streams.sink import (
    DeadLetter,
    Pending,
    Record,
    RowSink,
    Sink,
    SinkResult,
    alert_key,
    alert_row,
    decode_records,
    delivery_row,
    next_offsets,
)
from streams.topics import kafka_reachable
from streams.warehouse import Reader, ReadPool, Warehouse, reader_password
from streams.watchdog import Watchdog, exit_stalled
from streams.web import Queries, adhoc_slots, register_pages

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


STORE_CHECK_SECONDS = 0.05  # how often held records are checked for a wait that is up
T = TypeVar("T")
Item = TypeVar("Item")


@dataclass
class Folding:
    """Rules, the topic they fold, and the lock held from folding a batch until its alerts are
    published and (when due) its state saved, so that no save writes state whose alerts are not
    out yet, and two saves never overlap."""

    rules: SiteRules | VehicleRules
    topic: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def hand_back(revoked: set[TP], foldings: Iterable[Folding], save: Callable[[Folding], Awaitable[None]]) -> None:
    """On revocation: save what is folded (it would be lost with the engines), then drop the engines
    of the partitions going elsewhere. Under each lock: faust waits for the batches under way to be
    acknowledged before it revokes, but the idle save may be writing, and a save beside it would
    mark its offsets saved before its state is."""
    for folding in foldings:
        async with folding.lock:
            await save(folding)
            folding.rules.forget({tp.partition for tp in revoked if tp.topic == folding.topic})


def create_app(settings: Settings, warehouse: Warehouse, catalogue: Catalogue, reads: Reader) -> faust.App:
    app = App(
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

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    events_topic = topic(settings.topic_events)
    deadletter_topic = topic(settings.topic_deadletter)
    alerts_topic = topic(settings.topic_alerts)
    vehicles_topic = topic(settings.topic_vehicles)
    deliveries_topic = topic(settings.topic_deliveries)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse")
    sink = Sink(warehouse, settings.max_event_age)
    alert_sink = RowSink(warehouse, "alerts", alert_row, ("toString(alert_id) || alert_type", alert_key))
    delivery_sink = RowSink(warehouse, "alert_deliveries", delivery_row, None)
    stats = SinkStats()

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

    signing = signing_key(reader_password(settings))  # signs the origin of re-keyed events
    site_rules = SiteRules(
        catalogue, state_table("site-rule-state"), settings.max_event_age, settings.topic_partitions, signing
    )
    vehicle_rules = VehicleRules(catalogue, state_table("vehicle-rule-state"))
    site = Folding(site_rules, settings.topic_events)
    vehicles = Folding(vehicle_rules, settings.topic_vehicles)

    def in_warehouse(write: Callable[[list[Item]], T], records: list[Item]) -> Awaitable[T]:
        return in_thread("warehouse_insert", executor, lambda: write(records), app.retrying)

    async def publish(out: Output) -> None:
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
        # Straight to the producer: faust's Topic.send costs about a millisecond a message here.
        pending = [
            await app.producer.send(topic, key, value, partition, None, None)
            for topic, key, value, partition in messages
        ]
        pending += [
            await app.producer.send(settings.topic_events, copy.key, copy.value, copy.partition, None, copy.headers)
            for copy in out.rekeyed
        ]
        await asyncio.gather(*pending)

    async def park(letters: list[DeadLetter]) -> None:
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

    async def settle(folding: Folding, out: Output) -> None:
        """Alerts first, then (now and then) state: a crash before the state is saved reads the
        records again and raises their alerts again, with the same ids."""
        await until_done("publish", lambda: publish(out), app.retrying)
        if folding.rules.save_due(settings.rule_save_seconds):
            await save(folding)
        for alert in out.alerts:
            log.info("alert", type=type(alert).__name__, rule=alert.rule_id, site=alert.site_id, id=alert.alert_id)

    async def save(folding: Folding) -> None:
        """Save the state folded so far; then the commit may pass the records it covers."""
        folded, changes = folding.rules.folded(), folding.rules.take_changes()
        await until_done("checkpoint", lambda: folding.rules.checkpoint(changes), app.retrying)
        app.saved.through.update({TP(folding.topic, p): offset + 1 for p, offset in folded.items()})

    app.saved.topics |= {settings.topic_events, settings.topic_vehicles}
    app.stored.topics.add(settings.topic_events)
    pending = Pending(settings.sink_insert_min_events, settings.sink_insert_max_wait_seconds)
    last_store: asyncio.Future[None] | None = None  # the store started last: the next one ends after it

    def store_pending() -> asyncio.Future[None]:
        """Insert the records held now, their first attempt sent to the warehouse thread at once, and
        then let the commit pass them. An insert retried after a failure can end after a later one;
        the commit still passes records in the order they came."""
        nonlocal last_store
        decoded = pending.take()
        inserting = in_warehouse(sink.store, decoded)
        before = last_store

        async def finish() -> None:
            result = await inserting
            if before is not None:
                await before
            app.stored.through.update({TP(topic, p): offset for (topic, p), offset in next_offsets(decoded).items()})
            await park(result.parked)
            stats.add(len(decoded), result)

        last_store = asyncio.ensure_future(finish())
        return last_store

    # One agent per topic: faust may hand a record fetched during start-up to the agents already
    # subscribed, and its offset is committed once they ack; a second agent on the same topic
    # could miss it. So each batch of events is decoded once and folded into the rules at once,
    # and held for its insert until enough events are held or the first has waited (`Pending`).
    # An insert runs in the warehouse thread beside the rules (chDB releases the GIL); a batch
    # that starts one is acknowledged when both are done, a batch held is acknowledged when
    # folded, and the commit waits for its insert (the `stored` gate). The rules skip records
    # already folded into their state, the sink ids already stored, so the order in which the
    # two finish does not matter on a replay.
    @app.agent(events_topic, name="events")
    async def on_events(stream: faust.StreamT[bytes]) -> None:
        async for batch in take_batches(stream, settings.sink_batch_records, settings.sink_flush_seconds):
            records = [_record(event) for event in batch]
            decoded = decode_records(records, settings.max_event_age, settings.topic_partitions, signing)
            now = time.monotonic()
            pending.add(decoded, now)
            storing = store_pending() if pending.due(now) else None
            try:
                async with site.lock:
                    await settle(site, await site_rules.fold(decoded))
            finally:
                if storing is not None:
                    await storing

    @app.timer(STORE_CHECK_SECONDS)  # type: ignore[untyped-decorator]
    async def store_when_due() -> None:
        """Insert the records held once their wait is up, when no batch comes to do it."""
        if pending.due(time.monotonic()):
            await store_pending()

    @app.agent(vehicles_topic, name="vehicle-rules")
    async def on_vehicle_events(stream: faust.StreamT[bytes]) -> None:
        async for batch in take_batches(stream, settings.sink_batch_records, settings.sink_flush_seconds):
            async with vehicles.lock:
                await settle(vehicles, vehicle_rules.handle([_record(e) for e in batch]))

    if settings.rule_save_seconds > 0:

        @app.timer(settings.rule_save_seconds)  # type: ignore[untyped-decorator]
        async def save_when_idle() -> None:
            """Save what was folded since the last save when no batch came to save it. A batch saves
            only when the interval has passed; without a later record (clock ticks off, or a quiet
            partition) the last one's state would wait, and the commit with it, for good. A batch
            under way holds the lock and saves when it is due: no need to wait for it here (the
            rules let the loop run while they fold, so this timer would wait seconds for the lock)."""
            for folding in (site, vehicles):
                if folding.lock.locked():
                    continue
                async with folding.lock:
                    if folding.rules.unsaved() and folding.rules.save_due(settings.rule_save_seconds):
                        await save(folding)

    def row_sink_agent(topic_: faust.TopicT, name: str, row_sink: RowSink) -> None:
        @app.agent(topic_, name=name)
        async def store_rows(stream: faust.StreamT[bytes]) -> None:
            async for batch in take_batches(stream, settings.sink_batch_records, settings.alert_flush_seconds):
                await in_warehouse(row_sink.write, [_record(event) for event in batch])

    row_sink_agent(alerts_topic, "alert-sink", alert_sink)
    row_sink_agent(deliveries_topic, "delivery-sink", delivery_sink)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if pending:  # stored here rather than read again by the partitions' next owner
            store_pending()
        if last_store is not None:
            await last_store
        await hand_back(args[0], (site, vehicles), save)

    if settings.clock_tick_seconds > 0:

        @app.timer(settings.clock_tick_seconds, on_leader=True)  # type: ignore[untyped-decorator]
        async def tick() -> None:
            value = encode_tick(datetime.now(UTC))
            for partition in range(settings.topic_partitions):
                await events_topic.send(key=CLOCK_KEY, value=value, partition=partition)

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

    def report() -> dict[str, object]:
        return {
            **asdict(stats),
            "site_rules": site_rules.footprint(),
            "vehicle_rules": vehicle_rules.footprint(),
            "watchdog": watchdog.report() if watchdog.is_alive() else None,
        }

    # With no read connections of their own, reads wait in the warehouse thread as `after_inserts` ones do.
    beside = (
        ThreadPoolExecutor(max_workers=settings.worker_read_connections, thread_name_prefix="warehouse-read")
        if settings.worker_read_connections
        else executor
    )
    raw = reads if isinstance(reads, ReadPool) and settings.warehouse == "chdb" else None
    adhoc = adhoc_slots(settings.worker_read_connections)
    clickhouse = ClickHouseHttp(raw, beside, reader_password(settings), adhoc)
    queries = Queries(reads, beside, executor, adhoc)
    register_pages(app, queries, clickhouse, report, lambda: kafka_reachable(settings.kafka_bootstrap))
    return app


def in_thread(action: str, executor: Executor, work: Callable[[], T], retrying: Counter[str]) -> Awaitable[T]:
    """Run `work` in `executor` until it succeeds (`until_done`), its first attempt submitted now.

    Not when the event loop next runs: the worker starts a batch's insert and then evaluates the
    rules on the loop's thread, and the insert is to run in the warehouse thread from the start, not
    from the rules' first pause (or, as it did before, after them)."""
    loop = asyncio.get_running_loop()
    attempts: list[asyncio.Future[T]] = [loop.run_in_executor(executor, work)]

    def attempt() -> asyncio.Future[T]:
        return attempts.pop() if attempts else loop.run_in_executor(executor, work)

    return until_done(action, attempt, retrying)


async def until_done(action: str, attempt_once: Callable[[], Awaitable[T]], retrying: Counter[str]) -> T:
    """Retry until it succeeds: the batch is not acknowledged (nor its offsets committed) before.
    Raising instead would end the agent's stream, whose cleanup acknowledges the batch.

    From its first failure to its success the action counts in `retrying`: the worker then knows
    why it makes no progress, and the watchdog leaves it be (`streams.watchdog`)."""
    failed = False

    def before_sleep(state: RetryCallState) -> None:
        nonlocal failed
        if not failed:
            failed = True
            retrying[action] += 1
        log.warning(
            f"{action}_retry",
            attempt=state.attempt_number,
            error=str(state.outcome.exception() if state.outcome else None),
        )

    try:
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=30), stop=stop_never, before_sleep=before_sleep
        ):
            with attempt:
                return await attempt_once()
    finally:
        if failed:
            retrying[action] -= 1
            if retrying[action] <= 0:
                del retrying[action]
    raise AssertionError("unreachable: the retry loop never stops")


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
