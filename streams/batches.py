"""Each parcel batch counted once: at its first receipt, and at its first disinfection.

The batch panels count batches per hour by adding these counts (schemas/migrations/011_batch_firsts.sql)
rather than putting every batch id of the range in a set. The sink hands the rows it is about to
store to `BatchFirsts.write`, which looks up what the ledger holds for their batches and writes
+1 for a batch and kind not on file, or, for a record earlier than the one on file (events arrive
out of order), -1 at the old time and +1 at the new one. The ledger is written before the events:
a crash in between replays the events, and the lookup then finds the batch already counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec

from streams.warehouse import Warehouse, pair_set

COUNTED = ("parcels.received", "parcels.disinfected")
LOOKUP_CHUNK = 2000  # (site, batch) pairs per lookup: some 60 kB of SQL
Key = tuple[str, str, str]  # site_id, batch_id, event_type
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class First:
    """A ledger row: a batch's first record of one kind, and where the count goes (+1 or -1)."""

    site_id: str
    batch_id: str
    event_type: str
    occurred_at: datetime
    sign: int
    division_code: str
    brand: str
    origin: str
    from_outside_city: bool

    @property
    def key(self) -> Key:
        return self.site_id, self.batch_id, self.event_type


class Counted(Protocol):
    """What the ledger needs of a row about to be stored (streams.sink.RawRow)."""

    event_type: str
    occurred_at: datetime
    site_id: str
    division_code: str
    brand: str
    payload: Any


class BatchFirsts:
    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse

    def write(self, rows: Sequence[Counted]) -> None:
        """Record the batches `rows` count first."""
        earliest: dict[Key, First] = {}
        for row in rows:
            if row.event_type not in COUNTED:
                continue
            first = First(
                site_id=row.site_id,
                batch_id=row.payload.batch_id,
                event_type=row.event_type,
                occurred_at=_to_millisecond(row.occurred_at),
                sign=1,
                division_code=row.division_code,
                brand=row.brand,
                origin=getattr(row.payload, "origin", ""),
                from_outside_city=getattr(row.payload, "from_outside_city", False),
            )
            held = earliest.get(first.key)
            if held is None or first.occurred_at < held.occurred_at:
                earliest[first.key] = first
        on_file = self._on_file(list(earliest))
        ledger: list[First] = []
        for key, first in earliest.items():
            known = on_file.get(key)
            if known is None:
                ledger.append(first)
            elif first.occurred_at < known.occurred_at:
                ledger += [replace(known, sign=-1), first]
        self._warehouse.insert_json("batch_firsts", _encoder.encode_lines(ledger))

    def _on_file(self, keys: list[Key]) -> dict[Key, First]:
        """The first record of each kind on file for the batches of `keys` (the earliest +1 row)."""
        pairs = sorted({(site, batch) for site, batch, _ in keys})
        found: dict[Key, First] = {}
        for start in range(0, len(pairs), LOOKUP_CHUNK):
            chunk = pairs[start : start + LOOKUP_CHUNK]
            for row in self._warehouse.query(
                "SELECT site_id, batch_id, event_type, toUnixTimestamp64Milli(min(occurred_at)) AS at, "
                "argMin(division_code, occurred_at) AS d, argMin(brand, occurred_at) AS b, "
                "argMin(origin, occurred_at) AS o, argMin(from_outside_city, occurred_at) AS f "
                f"FROM batch_firsts WHERE (site_id, batch_id) IN {pair_set(chunk)} AND sign = 1 "
                "GROUP BY site_id, batch_id, event_type"
            ):
                first = First(
                    site_id=row["site_id"],
                    batch_id=row["batch_id"],
                    event_type=row["event_type"],
                    occurred_at=EPOCH + timedelta(milliseconds=int(row["at"])),
                    sign=1,
                    division_code=row["d"],
                    brand=row["b"],
                    origin=row["o"],
                    from_outside_city=bool(row["f"]),
                )
                found[first.key] = first
        return found


def _to_millisecond(moment: datetime) -> datetime:
    """The time as the warehouse keeps it (DateTime64(3)), so times on file and new ones compare alike."""
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


_encoder = msgspec.json.Encoder()
