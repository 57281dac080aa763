"""All event types as one tagged union, and the one way to turn bytes into events.

A Kafka record or an HTTP body holds one event (a JSON object) or an ordered batch (a JSON array).
`split` cuts it into raw events without validating them; `decode` validates one raw event and
raises `InvalidEvent` naming the field and the reason. Both ingest and the stream worker use these.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Literal, Union, get_args

import msgspec

from schemas.community import AnomalyReported
from schemas.corrections import EventVoided
from schemas.desk import AlertAcknowledged, AlertAssigned, AlertClosed, SiteReminded
from schemas.envelope import Event
from schemas.health import StaffHealthChecked, StaffShiftStarted, StaffTested, StaffVaccinated
from schemas.parcels import (
    EnvironmentSampled,
    ParcelsDisinfected,
    ParcelsDispatched,
    ParcelsReceived,
    PremisesDisinfected,
    SiteInspected,
)
from schemas.policy import PolicyLevelChanged
from schemas.pseudonym import check_digit
from schemas.registry import RoutePlanned, SiteRegistered, StaffEnrolled, StaffLeft, VehicleRegistered
from schemas.vehicles import VehicleArrived, VehicleDeparted, VehicleDisinfected, VehicleStopped

AnyEvent = Union[  # noqa: UP007 (msgspec needs a runtime Union of the tagged types)
    SiteRegistered,
    StaffEnrolled,
    StaffLeft,
    VehicleRegistered,
    RoutePlanned,
    StaffHealthChecked,
    StaffTested,
    StaffVaccinated,
    StaffShiftStarted,
    ParcelsReceived,
    ParcelsDisinfected,
    ParcelsDispatched,
    PremisesDisinfected,
    EnvironmentSampled,
    SiteInspected,
    VehicleDeparted,
    VehicleArrived,
    VehicleDisinfected,
    VehicleStopped,
    AnomalyReported,
    EventVoided,
    PolicyLevelChanged,
    AlertAcknowledged,
    AlertAssigned,
    AlertClosed,
    SiteReminded,
]
EVENT_CLASSES: tuple[type[Event], ...] = get_args(AnyEvent)
EVENT_TYPES: dict[str, type[Event]] = {
    msgspec.inspect.type_info(cls).tag: cls  # type: ignore[attr-defined]
    for cls in EVENT_CLASSES
}

EVENT_TAGS: dict[type[Event], str] = {cls: tag for tag, cls in EVENT_TYPES.items()}


def event_type(event: Event) -> str:
    """The `event_type` an event is tagged with."""
    return EVENT_TAGS[type(event)]


_event_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_object_or_array: msgspec.json.Decoder[list[msgspec.Raw] | dict[str, msgspec.Raw]] = msgspec.json.Decoder(
    list[msgspec.Raw] | dict[str, msgspec.Raw]
)
_encoder = msgspec.json.Encoder()

# A raw 18-digit resident ID number (GB 11643) or a mainland mobile number, however it is typed:
# text is normalised first (NFKC folds full-width digits and signs; zero-width characters go),
# then each run of digits joined by separators (spaces, hyphens, dots, slashes, brackets, a "+")
# is read as its groups, and every span of whole groups is tested without its separators: an ID
# number (a span of several groups must also have a valid check character, so a batch number of
# division code, date and sequence is not one), or a mobile number after an optional 86 / 0086.
_ID_NUMBER = re.compile(r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]")
_MOBILE = re.compile(r"(?:0086|86)?1[3-9][0-9]{9}")
_SEPARATOR = r"[ \t\-\u2010-\u2015.\u00b7/()+]"
_DIGIT_RUN = re.compile(rf"[0-9](?:{_SEPARATOR}*[0-9]){{10,}}(?:{_SEPARATOR}*[Xx])?")  # eleven digits or more
_GROUP_BREAK = re.compile(rf"{_SEPARATOR}+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# A cheap scan rules out almost every event, pseudonyms too: the raw bytes mapped to classes (digit
# or separator 0, letter a, a byte that may start a disguised digit u — a JSON escape, a full-width
# form, a zero-width character — and anything else a space), a personal number needs eleven 0s in
# a row or a u. Only then is the text read as above.
_SEPARATOR_BYTES = b" \t-./()+"  # the ASCII ones of `_SEPARATOR`
_BYTE_CLASS = bytes(
    ord("0") if chr(byte).isdigit() or byte in _SEPARATOR_BYTES else ord("u") if chr(byte) == "\\"
    else ord("a") if chr(byte).isalpha() else ord(" ")
    for byte in range(128)
) + bytes(ord("u") if byte in (0xC2, 0xE2, 0xEF) else ord(" ") for byte in range(128, 256))  # fmt: skip
_ELEVEN = b"0" * 11
_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


class InvalidEvent(ValueError):
    """An event that breaks the contract: `field` is a dotted path, `reason` says what was expected."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# What the decoder raises for bytes that are not JSON it can read: malformed (DecodeError, of which
# ValidationError is a subclass and is caught first), nested past the recursion limit, not UTF-8.
_NOT_JSON = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


def _not_json(exc: Exception) -> InvalidEvent:
    if isinstance(exc, RecursionError):
        reason = "nested too deeply"
    elif isinstance(exc, UnicodeDecodeError):
        reason = f"not UTF-8 at byte {exc.start}"
    else:
        reason = _clean(str(exc))
    return InvalidEvent("$", f"not valid JSON: {reason}")


def split(value: bytes) -> list[msgspec.Raw]:
    """The raw events of one record or body: a JSON object is one event, an array is a batch."""
    try:
        parsed = _object_or_array.decode(value)
    except msgspec.ValidationError:
        raise InvalidEvent("$", "expected a JSON object (one event) or an array of events") from None
    except _NOT_JSON as exc:
        raise _not_json(exc) from None
    if isinstance(parsed, dict):
        return [msgspec.Raw(value)]
    return parsed


def decode(raw: bytes | msgspec.Raw) -> AnyEvent:
    """Validate one event; raise `InvalidEvent` naming the first field at fault."""
    try:
        event = _event_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        field, reason = _field_and_reason(str(exc))
        raise InvalidEvent(field, reason) from None
    except _NOT_JSON as exc:
        raise _not_json(exc) from None
    _reject_personal_data(bytes(raw), event)
    return event


MAX_CLOCK_SKEW = timedelta(minutes=5)


class TimeWindow:
    """When an event may have happened, as seen at `now`: from `max_age` before it to MAX_CLOCK_SKEW
    after. A future timestamp would move a partition's watermark ahead and settle every pending check.

    The bounds are kept in each event's own time zone: Python compares two datetimes of one
    `timezone` object field by field, but works out both UTC offsets for two zones. A check that
    computed its bounds each time and compared across zones took 4.4 µs, this one 0.1 µs (msgspec
    decodes every "+08:00" to the same object).
    """

    def __init__(self, now: datetime, max_age: timedelta = timedelta(days=400)) -> None:
        self.now = now
        self.max_age = max_age
        self._earliest = now - max_age
        self._latest = now + MAX_CLOCK_SKEW
        self._in_zone: dict[tzinfo | None, tuple[datetime, datetime]] = {}

    def check(self, event: Event) -> None:
        """Raise `InvalidEvent` for an event outside the window."""
        zone = event.occurred_at.tzinfo
        bounds = self._in_zone.get(zone)
        if bounds is None:
            # Field by field is exact only for a fixed offset; other zones compare in UTC.
            fixed = isinstance(zone, timezone)
            bounds = self._in_zone[zone] = (
                self._earliest.astimezone(zone) if fixed else self._earliest,
                self._latest.astimezone(zone) if fixed else self._latest,
            )
        earliest, latest = bounds
        if event.occurred_at > latest:
            raise InvalidEvent(
                "occurred_at", f"is in the future (later than {MAX_CLOCK_SKEW} after {self.now.isoformat()})"
            )
        if event.occurred_at < earliest:
            raise InvalidEvent("occurred_at", f"is more than {self.max_age.days} days before {self.now.isoformat()}")


def encode(event: Event | list[Any]) -> bytes:
    return _encoder.encode(event)


def event_id_of(raw: bytes | msgspec.Raw) -> str | None:
    """The `event_id` of a raw event, even one that fails validation, for per-event outcomes."""
    try:
        head = msgspec.json.decode(raw, type=_IdOnly)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return head.event_id if isinstance(head.event_id, str) else None


class _IdOnly(msgspec.Struct):
    event_id: Any = None


def _reject_personal_data(raw: bytes, event: Event) -> None:
    classes = raw.translate(_BYTE_CLASS)
    if b"u" not in classes:
        if _ELEVEN not in classes:
            return
        # Plain ASCII: only the runs of digits and separators can hold one (with a byte either side).
        if not any(personal_number(run) for run in _ascii_runs(raw, classes)):
            return
    elif b"\\u" not in raw and personal_number(raw.decode()) is None:
        return  # the whole text at once (quotes end a run): no string of it holds one
    for path, text in _strings(msgspec.to_builtins(event), ""):
        kind = personal_number(text)
        if kind == "id":
            raise InvalidEvent(path, "looks like a raw ID-card number; send the staff pseudonym (ps_…) instead")
        if kind == "mobile":
            raise InvalidEvent(path, "looks like a phone number; events must not carry phone numbers")


def _ascii_runs(raw: bytes, classes: bytes) -> Iterator[str]:
    """The runs of eleven digits and separators or more in `raw`, each with the byte either side."""
    start = classes.find(_ELEVEN)
    while start != -1:
        end = start + len(_ELEVEN)
        while end < len(classes) and classes[end] == _ELEVEN[0]:
            end += 1
        if len(raw[start:end].translate(None, _SEPARATOR_BYTES)) >= len(_ELEVEN):  # eleven digits, at least
            yield raw[max(start - 1, 0) : end + 1].decode(errors="replace")
        start = classes.find(_ELEVEN, end)


def personal_number(text: str) -> Literal["id", "mobile"] | None:
    """Whether `text` holds an ID-card or mobile number, in any spelling (see `_ID_NUMBER`)."""
    normal = text if text.isascii() else unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    for run in _DIGIT_RUN.finditer(normal):
        groups = [group for group in _GROUP_BREAK.split(run.group().upper()) if group]
        start, end = run.span()
        if start and _in_word(normal[start - 1]):
            groups = groups[1:]  # the first group ends a word (a batch A139…): not a number of its own
        if end < len(normal) and _in_word(normal[end]):
            groups = groups[:-1]
        for first in range(len(groups)):
            span = ""
            for last in range(first, len(groups)):
                span += groups[last]
                if len(span) == 18 and _ID_NUMBER.fullmatch(span):
                    if last == first or check_digit(span[:17]) == span[17]:
                        return "id"
                elif len(span) in (11, 13, 15) and _MOBILE.fullmatch(span):
                    return "mobile"
                elif len(span) > 18:
                    break
    return None


def _in_word(character: str) -> bool:
    return character.isascii() and character.isalnum()


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _field_and_reason(message: str) -> tuple[str, str]:
    match = _MSGSPEC_PATH.match(message)
    assert match is not None  # the pattern matches any string
    reason, path = match.group("reason"), (match.group("path") or "").lstrip(".")
    missing = re.match(r"Object (?:missing required|contains unknown) field `([^`]+)`", reason)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    if reason.startswith("Invalid value") and path == "event_type":
        reason = f"{reason}; expected one of {', '.join(sorted(EVENT_TYPES))}"
    return path or "$", _clean(reason)


def _clean(reason: str) -> str:
    return reason.replace("`", "").strip()
