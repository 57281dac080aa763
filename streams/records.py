"""Kafka records as the worker reads them, split into their events and validated once.

A record holds one event or an ordered batch of events of sites sharing its partition, or a clock
tick. Each event is validated on its own: a valid one goes on to the sink and the rules, an invalid
one becomes a dead letter naming the field and the reason. When each event arrived is decided here
(`streams.placement`), so that the sink stores and the rules judge the same instant.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from schemas import events
from schemas.clock import decode_tick
from streams.placement import ORIGIN, Origin, appended_at, arrival, misplaced

PREVIEW_CHARS = 2000
MAX_PARKED_BYTES = 256 * 1024  # of the original record, kept in the letter: a letter stays under 1 MB


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int  # when the broker appended it (the events topic keeps LogAppendTime)
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class DeadLetter:
    record: Record
    index: int
    event_id: str
    field: str
    reason: str

    def row(self) -> dict[str, object]:
        value = self.record.value[:MAX_PARKED_BYTES]
        return {
            "topic": self.record.topic,
            "kafka_partition": self.record.partition,
            "kafka_offset": self.record.offset,
            "record_index": self.index,
            "record_key": (self.record.key or b"").decode("utf-8", "replace"),
            "event_id": self.event_id,
            "field": self.field,
            "reason": self.reason,
            "preview": value[:PREVIEW_CHARS].decode("utf-8", "replace"),
            "value_base64": base64.b64encode(value).decode(),
        }


@dataclass
class Decoded:
    """One record split and validated once, for both the sink and the rules: a tick, or its valid
    events (index in the record, raw bytes, event) and dead letters for the invalid ones."""

    record: Record
    tick: datetime | None = None
    valid: list[tuple[int, msgspec.Raw, events.AnyEvent]] = field(default_factory=list)
    parked: list[DeadLetter] = field(default_factory=list)
    # On a partition other than its site's: neither stored nor folded here, but re-keyed
    # (`streams.placement`); with its arrival decided, as the re-keyed copy carries it.
    misplaced: list[tuple[int, events.AnyEvent]] = field(default_factory=list)
    origin: Origin | None = None  # a re-keyed copy's: where and when it was first appended


def decode_records(
    records: list[Record], max_age: timedelta, partitions: int | None = None, signing: bytes | None = None
) -> list[Decoded]:
    """Split and validate each record's events, deciding when each arrived (`streams.placement`);
    with `partitions`, set apart the events of sites that belong on another partition; with
    `signing`, trust the origin a re-keyed copy carries."""
    decoded = []
    for record in records:
        item = Decoded(record, decode_tick(record.key, record.value))
        decoded.append(item)
        if item.tick is not None:
            continue
        try:
            raws = events.split(record.value)
        except events.InvalidEvent as exc:
            item.parked.append(DeadLetter(record, 0, "", exc.field, exc.reason))
            continue
        appended = appended_at(record.timestamp_ms)
        if signing is not None and record.headers:
            header = dict(record.headers).get(ORIGIN)
            item.origin = Origin.parse(header, signing) if header is not None else None
            if item.origin is not None:
                appended = appended_at(item.origin.appended_ms)  # when it was first appended, elsewhere
        window = events.TimeWindow(appended, max_age)
        for index, raw in enumerate(raws):
            try:
                event = events.decode(raw)
                window.check(event)
                received = arrival(event.received_at, appended)
                if received != event.received_at:  # a producer's own claim, or none: when it was appended
                    event = msgspec.structs.replace(event, received_at=received)
                if partitions is not None and misplaced(event, record.partition, partitions):
                    item.misplaced.append((index, event))
                    continue
                item.valid.append((index, raw, event))
            except events.InvalidEvent as exc:
                item.parked.append(DeadLetter(record, index, events.event_id_of(raw) or "", exc.field, exc.reason))
    return decoded
