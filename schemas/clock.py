"""Clock ticks: records that move a partition's watermark when no events arrive.

A tick is written to every partition of the events topic (key `__clock__`, value
`{"clock": "<RFC 3339>"}`). It is part of the log, so a replay sees the same ticks. The sink
skips ticks; the rule engine advances its watermark with them.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.envelope import AwareDatetime

CLOCK_KEY = b"__clock__"


class Tick(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    clock: AwareDatetime


_decoder = msgspec.json.Decoder(Tick)


def encode_tick(now: datetime) -> bytes:
    return msgspec.json.encode(Tick(now))


def decode_tick(key: bytes | None, value: bytes) -> datetime | None:
    """The tick's time, or None when the record is not a tick."""
    if key != CLOCK_KEY:
        return None
    try:
        return _decoder.decode(value).clock
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
