"""The ClickHouse sink: a batch of Kafka records in, rows in `raw_events`, bad ones parked.

A record holds one event or an ordered batch of events of sites sharing its partition. Each event
is validated on its own: a valid one becomes a row, an invalid one a dead letter naming the field
and the reason. Ids already stored are skipped, so replaying records after a crash stores nothing
twice. Parcel batches received or disinfected for the first time are counted in the batch ledger
(`streams.batches`) before their events are stored.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from schemas import events
from schemas.alerts import AlertRaised, AnyAlert
from schemas.clock import decode_tick
from schemas.envelope import Event
from schemas.policy import PolicyLevelChanged
from schemas.registry import SiteRegistered
from streams.batches import BatchFirsts
from streams.placement import ORIGIN, Origin, appended_at, arrival, misplaced
from streams.warehouse import Warehouse, id_set, literal

PREVIEW_CHARS = 2000
MAX_PARKED_BYTES = 256 * 1024  # of the original record, kept in the letter: a letter stays under 1 MB
LOOKUP_CHUNK = 4000  # ids per IN (...) lookup: ~170 kB of SQL, under ClickHouse's 256 kB max_query_size


def chunks(items: list[str], size: int = LOOKUP_CHUNK) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


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


class Pending:
    """Decoded records waiting for their insert, oldest first.

    An insert costs the worker about 0.1 to 0.5 s of CPU all in, whatever its size: its lookups,
    the part its views write into each table they fill, and the merges of those parts later
    (bench/HISTORY.md). So the records of small batches are held until they make `min_events`
    events (valid or parked), or the first of them has been held `max_wait` seconds.
    """

    def __init__(self, min_events: int, max_wait: float) -> None:
        self._min_events = min_events
        self._max_wait = max_wait
        self._items: list[Decoded] = []
        self._events = 0
        self._since = 0.0  # when the first record now held came

    def add(self, decoded: list[Decoded], now: float) -> None:
        if not self._items:
            self._since = now
        self._items += decoded
        self._events += sum(len(item.valid) + len(item.parked) for item in decoded)

    def __bool__(self) -> bool:
        return bool(self._items)

    def due(self, now: float) -> bool:
        return bool(self._items) and (self._events >= self._min_events or now - self._since >= self._max_wait)

    def take(self) -> list[Decoded]:
        items, self._items, self._events = self._items, [], 0
        return items


def next_offsets(decoded: list[Decoded]) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset after the last of these records."""
    after: dict[tuple[str, int], int] = {}
    for item in decoded:
        key = (item.record.topic, item.record.partition)
        after[key] = max(after.get(key, 0), item.record.offset + 1)
    return after


@dataclass
class SinkResult:
    stored: int = 0
    duplicates: int = 0
    parked: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class SiteInfo:
    enterprise_id: str
    division_code: str
    brand: str


class SiteDirectory:
    """Which enterprise owns a site, and its division and brand, to check events and stamp rows.

    A site's registration travels on the site's own partition before its other events, so the
    worker that owns the partition learns it in order; a miss (after a restart or a rebalance)
    is looked up in the warehouse once.
    """

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        self._sites: dict[str, SiteInfo] = {}

    def prefetch(self, site_ids: set[str]) -> None:
        missing = site_ids - self._sites.keys()
        if not missing:
            return
        rows = [
            row
            for chunk in chunks(sorted(missing))
            for row in self._warehouse.query(
                "SELECT site_id, argMax(enterprise_id, registered_at) AS enterprise_id, "
                "argMax(division_code, registered_at) AS division_code, argMax(brand, registered_at) AS brand "
                f"FROM sites WHERE site_id IN ({', '.join(literal(s) for s in chunk)}) GROUP BY site_id"
            )
        ]
        for row in rows:
            self._sites[row["site_id"]] = SiteInfo(row["enterprise_id"], row["division_code"], row["brand"])

    def get(self, site_id: str) -> SiteInfo | None:
        return self._sites.get(site_id)

    def register(self, event: SiteRegistered) -> None:
        self._sites[event.site_id] = SiteInfo(event.enterprise_id, event.payload.division_code, event.payload.brand)


class Sink:
    def __init__(self, warehouse: Warehouse, max_age: timedelta = timedelta(days=400)) -> None:
        self._warehouse = warehouse
        self._max_age = max_age
        self.sites = SiteDirectory(warehouse)
        self.batches = BatchFirsts(warehouse)

    def write(self, records: list[Record]) -> SinkResult:
        """Store a batch; safe to call again with the same records (nothing is stored twice)."""
        return self.store(decode_records(records, self._max_age))

    def store(self, decoded: list[Decoded]) -> SinkResult:
        """`write` for records already decoded (the worker decodes once for the sink and the rules)."""
        result = SinkResult(parked=[letter for item in decoded for letter in item.parked])
        valid = [(event, item.record, index) for item in decoded for index, _, event in item.valid]
        self.sites.prefetch({event.site_id for event, _, _ in valid if not isinstance(event, PolicyLevelChanged)})
        fresh = self._drop_stored(valid, result)
        rows = [row for event, record, index in fresh if (row := self._row(event, record, index, result))]
        self.batches.write(rows)  # before the events: a replay of them finds their batches counted
        self._warehouse.insert_json("raw_events", _row_encoder.encode_lines(rows))
        self._warehouse.insert_json(
            "dead_letters", b"".join(orjson.dumps(letter.row()) + b"\n" for letter in result.parked)
        )
        return result

    def _drop_stored(
        self, decoded: list[tuple[events.AnyEvent, Record, int]], result: SinkResult
    ) -> list[tuple[events.AnyEvent, Record, int]]:
        if not decoded:
            return []
        ids = [str(event.event_id) for event, _, _ in decoded]
        stored = {
            row["id"]
            for row in self._warehouse.query(
                f"SELECT DISTINCT toString(event_id) AS id FROM event_ids WHERE event_id IN {id_set(sorted(set(ids)))}"
            )
        }
        fresh = []
        for item, event_id in zip(decoded, ids, strict=True):
            if event_id in stored:
                result.duplicates += 1
                continue
            stored.add(event_id)
            fresh.append(item)
        return fresh

    def _row(self, event: events.AnyEvent, record: Record, index: int, result: SinkResult) -> RawRow | None:
        """The raw_events row, or None when the event is parked instead."""
        division_code, brand = self._placement(event, record, index, result)
        if division_code is None:
            return None
        result.stored += 1
        return RawRow(
            event_id=event.event_id,
            event_type=_TAGS[type(event)],
            schema_version=event.schema_version,
            occurred_at=event.occurred_at,
            received_at=event.received_at or datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
            enterprise_id=event.enterprise_id,
            site_id=event.site_id,
            division_code=division_code,
            brand=brand,
            party_branch_id=event.party_branch_id or "",
            actor_id=event.actor_id or "",
            backfill=event.backfill,
            payload=event.payload,  # a JSON object; ClickHouse stores it as the String column's text
            kafka_partition=record.partition,
            kafka_offset=record.offset,
            record_index=index,
        )

    def _placement(
        self, event: events.AnyEvent, record: Record, index: int, result: SinkResult
    ) -> tuple[str | None, str]:
        """(division code, brand) for the row, or (None, "") after parking an event that may not be stored."""
        if isinstance(event, PolicyLevelChanged):
            return event.payload.division_code, ""
        owner = self.sites.get(event.site_id)
        if owner is not None and owner.enterprise_id != event.enterprise_id:
            self._park(event, record, index, result, "site_id", "the site is registered to another enterprise")
            return None, ""
        if isinstance(event, SiteRegistered):
            self.sites.register(event)
            return event.payload.division_code, event.payload.brand
        if owner is None:
            self._park(
                event, record, index, result, "site_id", "the site is not registered; post site.registered first"
            )
            return None, ""
        return owner.division_code, owner.brand

    @staticmethod
    def _park(event: Event, record: Record, index: int, result: SinkResult, field: str, reason: str) -> None:
        result.parked.append(DeadLetter(record, index, str(event.event_id), field, reason))


_TAGS = events.EVENT_TAGS


class RawRow(msgspec.Struct, array_like=False):
    """A raw_events row as JSONEachRow: msgspec writes UUIDs, times and the payload natively."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: datetime
    received_at: datetime
    enterprise_id: str
    site_id: str
    division_code: str
    brand: str
    party_branch_id: str
    actor_id: str
    backfill: bool
    payload: Any
    kafka_partition: int
    kafka_offset: int
    record_index: int


_row_encoder = msgspec.json.Encoder()


class RowSink:
    """Stores JSON records (alerts, deliveries) as rows of one table.

    With `dedupe` (a SQL expression over the table and the same key computed from a row), rows whose
    key is already stored are skipped, so a replayed or re-raised record is one row.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        table: str,
        to_row: Callable[[bytes], dict[str, Any] | None],
        dedupe: tuple[str, Callable[[dict[str, Any]], str]] | None,
    ) -> None:
        self._warehouse = warehouse
        self._table = table
        self._to_row = to_row
        self._dedupe = dedupe

    def write(self, records: list[Record]) -> int:
        rows = [row for row in (self._to_row(record.value) for record in records) if row is not None]
        if self._dedupe is not None and rows:
            expression, key = self._dedupe
            ids = sorted({str(row["alert_id"]) for row in rows})
            stored = {
                item["key"]
                for item in self._warehouse.query(
                    f"SELECT DISTINCT {expression} AS key FROM {self._table} WHERE alert_id IN {id_set(ids)}"
                )
            }
            fresh = []
            for row in rows:
                if key(row) not in stored:
                    stored.add(key(row))
                    fresh.append(row)
            rows = fresh
        self._warehouse.insert_json(self._table, b"".join(orjson.dumps(row) + b"\n" for row in rows))
        return len(rows)


_alert_decoder: msgspec.json.Decoder[AnyAlert] = msgspec.json.Decoder(AnyAlert)


def alert_row(value: bytes) -> dict[str, Any] | None:
    try:
        alert = _alert_decoder.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # only the worker writes this topic; nothing else is expected on it
    row: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "alert_type": "alert.raised" if isinstance(alert, AlertRaised) else "alert.resolved",
        "rule_id": alert.rule_id,
        "catalogue_version": alert.catalogue_version,
        "severity": alert.severity,
        "enterprise_id": alert.enterprise_id,
        "site_id": alert.site_id,
        "division_code": alert.division_code,
        "subject_kind": alert.subject_kind,
        "subject_id": alert.subject_id,
        "at": alert.at.isoformat(),
        "evidence": alert.evidence,
    }
    if isinstance(alert, AlertRaised):
        row.update(
            deadline=alert.deadline.isoformat(),
            profile=alert.profile,
            title_zh=alert.title_zh,
            details=orjson.dumps(alert.details).decode(),
        )
    else:
        row.update(late=alert.late, late_reason=alert.late_reason or "")
    return row


def alert_key(row: dict[str, Any]) -> str:
    return f"{row['alert_id']}{row['alert_type']}"


def delivery_row(value: bytes) -> dict[str, Any] | None:
    row: dict[str, Any] = orjson.loads(value)
    return row
