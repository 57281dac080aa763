"""Runs the rule engines over Kafka records: one engine per partition, state through a store.

The events topic is keyed by site, so site rules run on it directly. Vehicle rules need a vehicle's
events together, so vehicle events are re-keyed onto the vehicles topic (with the calling site's
placement), and ticks and policy changes are copied to every vehicles partition. Events the sink
would park (for an unregistered site, or a site of another enterprise) are not evaluated either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
import orjson

from schemas import events
from schemas.alerts import AnyAlert
from schemas.clock import CLOCK_KEY, decode_tick
from schemas.policy import PolicyLevelChanged
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import Engine, Position, State
from streams.compliance.rulebook import admissible, site_engine, vehicle_engine, vehicle_of
from streams.sink import Record

_alert_encoder = msgspec.json.Encoder()


class StateStore(Protocol):
    def load(self, partition: int) -> dict[str, State]: ...

    def save(self, partition: int, states: dict[str, State]) -> None: ...


class MemoryStore:
    """A store for replays and tests: state kept in a dict."""

    def __init__(self) -> None:
        self.partitions: dict[int, dict[str, State]] = {}

    def load(self, partition: int) -> dict[str, State]:
        return orjson.loads(orjson.dumps(self.partitions.get(partition, {})))  # type: ignore[no-any-return]

    def save(self, partition: int, states: dict[str, State]) -> None:
        self.partitions.setdefault(partition, {}).update(orjson.loads(orjson.dumps(states)))


@dataclass
class Output:
    alerts: list[AnyAlert] = field(default_factory=list)
    forwards: list[tuple[bytes, bytes]] = field(default_factory=list)  # (vehicle key, value)
    broadcasts: list[tuple[bytes, bytes]] = field(default_factory=list)  # to every vehicles partition

    def alert_records(self) -> list[tuple[bytes, bytes]]:
        return [(alert.site_id.encode(), _alert_encoder.encode(alert)) for alert in self.alerts]


class PartitionedRules:
    """Engines per partition, created from stored state when a partition is first seen."""

    def __init__(self, make_engine: Callable[[dict[str, State]], Engine], store: StateStore) -> None:
        self._make_engine = make_engine
        self._store = store
        self.engines: dict[int, Engine] = {}

    def engine(self, partition: int) -> Engine:
        if partition not in self.engines:
            self.engines[partition] = self._make_engine(self._store.load(partition))
        return self.engines[partition]

    def checkpoint(self) -> None:
        for partition, engine in self.engines.items():
            changed = engine.take_dirty()
            if changed:
                self._store.save(partition, changed)

    def footprint(self) -> dict[str, int]:
        """The engines' footprints summed (see `Engine.footprint`), with the partitions held."""
        total = {"partitions": len(self.engines)}
        for engine in self.engines.values():
            for name, value in engine.footprint().items():
                total[name] = total.get(name, 0) + value
        return total

    def forget(self, partitions: set[int]) -> None:
        """Drop engines of partitions this worker no longer owns (their state moves with them)."""
        for partition in partitions:
            self.engines.pop(partition, None)

    def handle(self, records: list[Record]) -> Output:
        out = Output()
        for record in records:
            engine = self.engine(record.partition)
            tick = decode_tick(record.key, record.value)
            if tick is None:
                self._fold(engine, record, out)
            else:
                out.alerts += engine.tick(tick)
                self._ticked(record, out)
        return out

    def _fold(self, engine: Engine, record: Record, out: Output) -> None:
        raise NotImplementedError

    def _ticked(self, record: Record, out: Output) -> None:
        return None


class SiteRules(PartitionedRules):
    def __init__(self, catalogue: Catalogue, store: StateStore, max_age: timedelta = timedelta(days=400)) -> None:
        super().__init__(lambda states: site_engine(catalogue, states), store)
        self._max_age = max_age

    def _fold(self, engine: Engine, record: Record, out: Output) -> None:
        for index, raw in enumerate(_raw_events(record.value)):
            self._handle_event(engine, record, index, raw, out)

    def _ticked(self, record: Record, out: Output) -> None:
        out.broadcasts.append((CLOCK_KEY, record.value))  # the vehicles' partitions keep time too

    def _handle_event(self, engine: Engine, record: Record, index: int, raw: msgspec.Raw, out: Output) -> None:
        try:
            event = events.decode(raw)
            events.check_time(event, datetime.fromtimestamp(record.timestamp_ms / 1000, UTC), self._max_age)
        except events.InvalidEvent:
            return  # the sink parks it in the dead-letter topic with the reason
        position = Position(record.offset, index)
        if isinstance(event, PolicyLevelChanged):
            out.alerts += engine.process(event.site_id, event, position)
            out.broadcasts.append((event.site_id.encode(), _forwarded(None, bytes(raw))))
            return
        site = engine.states.get(event.site_id, {}).get("site")
        if not admissible(event, site):
            return
        out.alerts += engine.process(event.site_id, event, position)
        vehicle = vehicle_of(event)
        if vehicle is not None:
            site = engine.states[event.site_id].get("site")
            out.forwards.append((vehicle.encode(), _forwarded(site, bytes(raw))))


class VehicleRules(PartitionedRules):
    def __init__(self, catalogue: Catalogue, store: StateStore) -> None:
        super().__init__(lambda states: vehicle_engine(catalogue, states), store)

    def _fold(self, engine: Engine, record: Record, out: Output) -> None:
        forwarded = orjson.loads(record.value)
        event = events.decode(orjson.dumps(forwarded["event"]))
        key = event.site_id if isinstance(event, PolicyLevelChanged) else (vehicle_of(event) or "")
        out.alerts += engine.process(key, event, Position(record.offset), forwarded["site"])


def _raw_events(value: bytes) -> list[msgspec.Raw]:
    try:
        return events.split(value)
    except events.InvalidEvent:
        return []


def _forwarded(site: dict[str, Any] | None, raw_event: bytes) -> bytes:
    return b'{"site":' + orjson.dumps(site) + b',"event":' + raw_event + b"}"
