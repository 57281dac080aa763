"""Where an event read from the events topic belongs, and when it arrived.

**Placement.** Site rules fold each partition on its own, so a site's events must all be on the
partition Kafka's default (murmur2) partitioner gives its id. Ingest places them so; an outside
producer may not (librdkafka clients hash with CRC32 unless told `partitioner=murmur2_random`).
The worker re-keys a misplaced event: it writes the event again on its site's partition, with
an `ORIGIN` header naming where it was first appended, and neither stores nor folds the misplaced
copy; the copy on the right partition is stored and folded in that partition's order, live and
in a replay from Kafka alike. A policy change is on every partition by design.

**Arrival.** `received_at` is when the system first had the event: ingest's stamp, made just
before Kafka appended the record, or else the time the broker appended it (the events topic keeps
`LogAppendTime`). A producer's own `received_at` is kept only within `STAMP_GRACE` before the
append time; otherwise, and for a time after it, the append time stands. So no producer can
make its late records look on time. A re-keyed copy carries its first append time in `ORIGIN`,
signed with the worker's key, so re-keying late does not make a record late.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.events import AnyEvent
from schemas.policy import PolicyLevelChanged
from streams.topics import partition_for

ORIGIN = "tongfang-origin"
STAMP_GRACE = timedelta(minutes=5)  # ingest stamps, then produces (its retries take seconds, not minutes)


@dataclass(frozen=True)
class Origin:
    """Where a re-keyed event was first appended, and when."""

    partition: int
    offset: int
    index: int
    appended_ms: int

    @property
    def name(self) -> str:
        return f"{self.partition}:{self.offset}:{self.index}"

    def header(self, key: bytes) -> bytes:
        text = f"{self.name}:{self.appended_ms}".encode()
        return text + b":" + _signature(key, text)

    @classmethod
    def parse(cls, header: bytes, key: bytes) -> Origin | None:
        """The origin a header names, if the worker's key signed it; None otherwise."""
        text, _, signature = header.rpartition(b":")
        if not hmac.compare_digest(signature, _signature(key, text)):
            return None
        try:
            partition, offset, index, appended = (int(part) for part in text.split(b":"))
        except ValueError:
            return None
        return cls(partition, offset, index, appended)


def signing_key(secret: str) -> bytes:
    """The key that signs origins, derived from the worker's local secret (data/reader.key)."""
    return hashlib.sha256(b"tongfang-origin|" + secret.encode()).digest()


def _signature(key: bytes, text: bytes) -> bytes:
    return hmac.new(key, text, hashlib.sha256).hexdigest()[:32].encode()


def misplaced(event: AnyEvent, partition: int, partitions: int) -> bool:
    """Whether `event` sits on a partition other than its site's."""
    if isinstance(event, PolicyLevelChanged):
        return False
    return partition_for(event.site_id.encode(), partitions) != partition


def arrival(stamped: datetime | None, appended: datetime) -> datetime:
    """When the system first had an event appended at `appended`, given the `received_at` it carries."""
    if stamped is not None and appended - STAMP_GRACE <= stamped <= appended:
        return stamped
    return appended


def appended_at(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
