"""The ClickHouse sink: decoded records in, rows in `raw_events`, bad events in `dead_letters`.

Records come split and validated (`streams.records`); here each valid event is checked against the
site's owner (`streams.site_directory`) and becomes a row, or is parked with the field and the
reason. Ids already stored are skipped, so replaying records after a crash stores nothing twice.
Parcel batches received or disinfected for the first time are counted in the batch ledger
(`streams.batches`) before their events are stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from schemas import events
from schemas.envelope import Event
from schemas.policy import PolicyLevelChanged
from schemas.registry import SiteRegistered
from streams.batches import BatchFirsts
from streams.records import DeadLetter, Decoded, Record, decode_records
from streams.site_directory import SiteDirectory
from streams.warehouse import Warehouse, id_set


@dataclass
class SinkResult:
    stored: int = 0
    duplicates: int = 0
    parked: list[DeadLetter] = field(default_factory=list)


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
