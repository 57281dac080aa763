"""The envelope every event carries, and the constrained field types the families share.

Events are msgspec Structs: frozen, unknown fields forbidden, tagged by `event_type`. Each family
module subclasses `Event` with its tag and a typed `payload`. Events and payloads are left out of
the garbage collector's tracking (gc=False): decoded from JSON and frozen, they hold values and
lists of values, never a cycle, and a batch of them no longer prompts collections.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

# GB/T 2260: two-digit province code, then city and district digits; streets add three more.
PROVINCES = "11|12|13|14|15|21|22|23|31|32|33|34|35|36|37|41|42|43|44|45|46|50|51|52|53|54|61|62|63|64|65|71|81|82"
DIVISION_PATTERN = rf"^(?:{PROVINCES})[0-9]{{4}}(?:[0-9]{{3}})?$"

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"

Identifier = Annotated[
    str,
    Meta(
        pattern=IDENTIFIER_PATTERN,
        description="Letters, digits and _.:- ; 1 to 64 characters, starting with a letter or digit.",
    ),
]
Pseudonym = Annotated[
    str,
    Meta(
        pattern=r"^ps_[0-9a-f]{32}$",
        description="Keyed pseudonym of a person: ps_ and 32 hex digits (HMAC of the ID number).",
    ),
]
DivisionCode = Annotated[
    str,
    Meta(pattern=DIVISION_PATTERN, description="GB/T 2260 division code: 6 digits, or 9 for a street."),
]
AwareDatetime = Annotated[
    datetime, Meta(tz=True, description="RFC 3339 timestamp with an offset, e.g. 2026-11-23T08:30:00+08:00.")
]
Count = Annotated[int, Meta(gt=0, le=10_000_000, description="A positive count of items.")]
Temperature = Annotated[float, Meta(ge=30.0, le=45.0, description="Body temperature in degrees Celsius.")]
ShortText = Annotated[str, Meta(max_length=500)]
Name = Annotated[str, Meta(min_length=1, max_length=120)]
CountryCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.")]
Latitude = Annotated[float, Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Meta(ge=-180.0, le=180.0)]


class Event(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="event_type", gc=False):
    """Envelope fields. `received_at` is set by the server; a sender's value is replaced."""

    event_id: uuid.UUID
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    received_at: AwareDatetime | None = None
    enterprise_id: Identifier
    site_id: Identifier
    party_branch_id: Identifier | None = None
    actor_id: Pseudonym | None = None
    backfill: Annotated[
        bool,
        Meta(
            description="Part of a history posted after the fact (POST /v1/events?backfill=true): judged as if it "
            "had arrived on time, its checks waiting a quarter of an hour for the rest of the history; still "
            "counted as late (LEDGER-LATE)."
        ),
    ] = False


class Payload(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Base of every payload: frozen, no unknown fields."""
