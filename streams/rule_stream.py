"""Runs the rule engines over Kafka records: one engine per partition, state through a store.

The events topic is keyed by site, so site rules run on it directly. Vehicle rules need a vehicle's
events together, so vehicle events are re-keyed onto the vehicles topic (with the calling site's
placement), and ticks and policy changes are copied to every vehicles partition. Events the sink
would park (for an unregistered site, or a site of another enterprise) are not evaluated either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

import msgspec
import orjson
import structlog

from schemas import events
from schemas.alerts import AnyAlert
from schemas.clock import CLOCK_KEY, decode_tick
from schemas.policy import PolicyLevelChanged
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import Engine, Position, State
from streams.compliance.rulebook import evaluate_site_event, site_engine, vehicle_engine, vehicle_of
from streams.placement import ORIGIN, Origin
from streams.records import Decoded, Record, decode_records
from streams.topics import partition_for

log = structlog.get_logger("tongfang.rules")
_alert_encoder = msgspec.json.Encoder()
Changes = dict[int, dict[str, State]]  # partition -> key -> state
FOLD_TURN_EVENTS = 2_000  # events folded between two turns of the event loop: about 0.1 s of rules


class StateStore(Protocol):
    def load(self, partition: int) -> dict[str, State]: ...

    async def save(self, partition: int, states: dict[str, State]) -> None:
        """Return once every state is durable; a failure may leave any subset of them saved."""


class MemoryStore:
    """A store for replays and tests: state kept in a dict."""

    def __init__(self) -> None:
        self.partitions: dict[int, dict[str, State]] = {}

    def load(self, partition: int) -> dict[str, State]:
        return orjson.loads(orjson.dumps(self.partitions.get(partition, {})))  # type: ignore[no-any-return]

    async def save(self, partition: int, states: dict[str, State]) -> None:
        self.partitions.setdefault(partition, {}).update(orjson.loads(orjson.dumps(states)))


class Rekeyed(NamedTuple):
    """A misplaced event written again on its site's partition, with its origin header."""

    partition: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class Output:
    alerts: list[AnyAlert] = field(default_factory=list)
    forwards: list[tuple[bytes, bytes]] = field(default_factory=list)  # (vehicle key, value)
    broadcasts: list[tuple[bytes, bytes]] = field(default_factory=list)  # to every vehicles partition
    rekeyed: list[Rekeyed] = field(default_factory=list)  # misplaced events, to their site's partition

    def extend(self, other: Output) -> None:
        self.alerts += other.alerts
        self.forwards += other.forwards
        self.broadcasts += other.broadcasts
        self.rekeyed += other.rekeyed

    def alert_records(self) -> list[tuple[bytes, bytes]]:
        return [(alert.site_id.encode(), _alert_encoder.encode(alert)) for alert in self.alerts]


class PartitionedRules:
    """Engines per partition, created from stored state when a partition is first seen."""

    def __init__(self, make_engine: Callable[[dict[str, State]], Engine], store: StateStore) -> None:
        self._make_engine = make_engine
        self._store = store
        self.engines: dict[int, Engine] = {}
        self.skipped_past_gaps = 0  # records left to their partition's read again (see `in_order`)
        self._taken_at = (float("-inf"), 0)  # (monotonic time, skipped_past_gaps) when changes were last taken
        self._gap_at: dict[int, int] = {}  # partition -> the last offset folded before its gap (logged once)

    def engine(self, partition: int) -> Engine:
        if partition not in self.engines:
            self.engines[partition] = self._make_engine(self._store.load(partition))
        return self.engines[partition]

    def in_order(self, engine: Engine, record: Record) -> bool:
        """Whether `record` may be folded now: the next one in its partition, or one read again.

        Around a rebalance faust can drop the records in flight and hand out later ones; the
        consumer reads the partition again from its committed offset once the commit stalls on
        the missing record (`streams.faust_adapter.consumer`). Folding the later records first would carry the
        watermark past the missing ones, which would then arrive late, and the alerts would not be
        those of a run in log order. Our topics are neither compacted nor transactional and are
        kept forever, so their offsets have no holes: a record past the next offset follows a lost
        one and waits for the read again (the sink stores it meanwhile; the ack is harmless, the
        commit cannot pass the missing record).
        """
        folded = _folded(engine)
        if folded >= 0 and record.offset > folded + 1:
            self.skipped_past_gaps += 1
            if self._gap_at.get(record.partition) != folded:
                self._gap_at[record.partition] = folded
                log.warning(
                    "records_wait_for_a_lost_one", partition=record.partition, folded=folded, offset=record.offset
                )
            return False
        if record.offset > folded:
            engine.states[Engine.CLOCK]["offset"] = record.offset
            engine.dirty.add(Engine.CLOCK)
        return True

    def take_changes(self) -> Changes:
        """What changed since the last call, to save with `checkpoint` (and again if that fails)."""
        self._taken_at = (time.monotonic(), self.skipped_past_gaps)
        return {partition: engine.take_dirty() for partition, engine in self.engines.items()}

    def unsaved(self) -> bool:
        """Whether anything was folded or changed since the changes were last taken."""
        return any(engine.dirty for engine in self.engines.values())

    def save_due(self, interval: float) -> bool:
        """Whether to save now: `interval` seconds have passed, or records wait past a gap (their
        partition's read again comes only once the commit reaches the gap, after the next save)."""
        return time.monotonic() - self._taken_at[0] >= interval or self.skipped_past_gaps != self._taken_at[1]

    def folded(self) -> dict[int, int]:
        """The last record folded, per partition: what the changes taken now cover."""
        return {partition: _folded(engine) for partition, engine in self.engines.items()}

    async def checkpoint(self, changes: Changes) -> None:
        """Save changed state in two steps: the keys, then each partition's clock and policy book.

        A crash between or during the steps leaves some keys saved ahead of the clock, never the
        clock ahead of a key. The events read again after it then skip the keys that hold them and
        still move the clock as they did the first time (see `Engine.process`), so the alerts and
        the state come out as those of an uninterrupted run.
        """
        shared = (Engine.CLOCK, Engine.POLICY)
        keys = {p: {k: v for k, v in states.items() if k not in shared} for p, states in changes.items()}
        last = {p: {k: v for k, v in states.items() if k in shared} for p, states in changes.items()}
        for step in (keys, last):
            await asyncio.gather(*(self._store.save(p, states) for p, states in step.items() if states))

    def footprint(self) -> dict[str, int]:
        """The engines' footprints summed (see `Engine.footprint`), with the partitions held and the
        records skipped past gaps."""
        total = {"partitions": len(self.engines), "skipped_past_gaps": self.skipped_past_gaps}
        for engine in self.engines.values():
            for name, value in engine.footprint().items():
                total[name] = total.get(name, 0) + value
        return total

    def forget(self, partitions: set[int]) -> None:
        """Drop engines of partitions this worker no longer owns (their state moves with them)."""
        for partition in partitions:
            self.engines.pop(partition, None)


class SiteRules(PartitionedRules):
    """Site rules over the events topic. Given the topic's `partitions` and the worker's `signing`
    key, events on a partition other than their site's are re-keyed (`streams.placement`)."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: StateStore,
        max_age: timedelta = timedelta(days=400),
        partitions: int | None = None,
        signing: bytes | None = None,
    ) -> None:
        super().__init__(lambda states: site_engine(catalogue, states), store)
        self._max_age = max_age
        self._partitions = partitions
        self._signing = signing
        self.misplaced = 0  # events re-keyed since start

    def handle(self, records: list[Record]) -> Output:
        return self.handle_decoded(decode_records(records, self._max_age, self._partitions, self._signing))

    def footprint(self) -> dict[str, int]:
        return {**super().footprint(), "misplaced": self.misplaced}

    async def fold(self, decoded: list[Decoded], turn_every: int = FOLD_TURN_EVENTS) -> Output:
        """`handle_decoded`, letting the event loop run after each `turn_every` events or so.

        A batch of a backlog holds a hundred thousand events and more, seconds of rules; meanwhile
        the consumer keeps fetching the next batch and sending its heartbeats, and the other agents
        (the vehicle rules, the alert sink) go on."""
        out, start = Output(), 0
        while start < len(decoded):
            end, events_in_slice = start, 0
            while end < len(decoded) and events_in_slice < turn_every:
                events_in_slice += len(decoded[end].valid) + 1  # + 1: a tick, or a record all parked
                end += 1
            out.extend(self.handle_decoded(decoded[start:end]))
            start = end
            await asyncio.sleep(0)
        return out

    def handle_decoded(self, decoded: list[Decoded]) -> Output:
        """Fold records the sink's decoder has split and validated; invalid events are the sink's to park."""
        out = Output()
        for item in decoded:
            engine = self.engine(item.record.partition)
            if not self.in_order(engine, item.record):
                continue
            if item.tick is not None:
                out.alerts += engine.tick(item.tick)
                out.broadcasts.append((CLOCK_KEY, item.record.value))  # the vehicles' partitions keep time too
            origin = item.origin.name if item.origin is not None else None
            for index, raw, event in item.valid:
                self._handle_event(engine, item.record, index, raw, event, out, origin)
            if item.misplaced:
                self._rekey(item, out)
        return out

    def _rekey(self, item: Decoded, out: Output) -> None:
        if self._partitions is None or self._signing is None:
            return
        record = item.record
        for index, event in item.misplaced:
            assert event.received_at is not None  # decided by `decode_records`
            origin = Origin(record.partition, record.offset, index, int(event.received_at.timestamp() * 1000))
            partition = partition_for(event.site_id.encode(), self._partitions)
            header = [(ORIGIN, origin.header(self._signing))]
            out.rekeyed.append(Rekeyed(partition, event.site_id.encode(), events.encode(event), header))
        self.misplaced += len(item.misplaced)
        log.warning(
            "events_misplaced",
            partition=record.partition,
            offset=record.offset,
            events=len(item.misplaced),
            sites=sorted({event.site_id for _, event in item.misplaced})[:5],
            hint="key by site_id with Kafka's murmur2 partitioner (librdkafka: partitioner=murmur2_random)",
        )

    def _handle_event(
        self,
        engine: Engine,
        record: Record,
        index: int,
        raw: msgspec.Raw,
        event: events.AnyEvent,
        out: Output,
        origin: str | None = None,
    ) -> None:
        alerts = evaluate_site_event(engine, event, Position(record.offset, index), origin)
        if alerts is None:
            return
        out.alerts += alerts
        if isinstance(event, PolicyLevelChanged):
            out.broadcasts.append((event.site_id.encode(), _forwarded(None, bytes(raw))))
            return
        vehicle = vehicle_of(event)
        if vehicle is not None:
            site = engine.states[event.site_id].get("site")
            out.forwards.append((vehicle.encode(), _forwarded(site, bytes(raw))))


class VehicleRules(PartitionedRules):
    def __init__(self, catalogue: Catalogue, store: StateStore) -> None:
        super().__init__(lambda states: vehicle_engine(catalogue, states), store)

    async def fold(self, records: list[Record]) -> Output:
        """`handle`, as the worker calls it (`streams.checkpoint.Checkpoint.fold`); vehicle batches are
        small enough to fold without letting the loop run."""
        return self.handle(records)

    def handle(self, records: list[Record]) -> Output:
        out = Output()
        for record in records:
            engine = self.engine(record.partition)
            if not self.in_order(engine, record):
                continue
            tick = decode_tick(record.key, record.value)
            if tick is not None:
                out.alerts += engine.tick(tick)
                continue
            forwarded = orjson.loads(record.value)
            event = events.decode(orjson.dumps(forwarded["event"]))
            key = event.site_id if isinstance(event, PolicyLevelChanged) else (vehicle_of(event) or "")
            out.alerts += engine.process(key, event, Position(record.offset), forwarded["site"])
        return out


def _folded(engine: Engine) -> int:
    """The partition's last record folded (-1: none; also for state saved before it was kept)."""
    return int(engine.states[Engine.CLOCK].get("offset", -1))


def _forwarded(site: dict[str, Any] | None, raw_event: bytes) -> bytes:
    return b'{"site":' + orjson.dumps(site) + b',"event":' + raw_event + b"}"
