from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import msgspec
import orjson
import pytest

from schemas import events
from schemas.export import SCHEMA_PATH, events_schema, render
from tests import factories


def test_every_event_type_has_an_example_that_decodes_and_round_trips():
    examples = factories.examples()
    assert set(examples) == set(events.EVENT_TYPES)
    for event_type, body in examples.items():
        event = events.decode(orjson.dumps(body))
        assert type(event) is events.EVENT_TYPES[event_type]
        assert events.decode(events.encode(event)) == event


def test_json_schema_file_is_current():
    assert SCHEMA_PATH.read_text() == render(), "run `make schemas` and commit the result"


def test_json_schema_accepts_the_examples_and_rejects_an_unknown_field():
    validator = jsonschema.Draft202012Validator(events_schema())
    examples = list(factories.examples().values())
    for body in examples:
        validator.validate(body)
    validator.validate(examples[:3])
    broken = copy.deepcopy(examples[0])
    broken["payload"]["colour"] = "red"
    assert not validator.is_valid(broken)


def _with(body: dict[str, Any], path: str, value: object) -> bytes:
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return orjson.dumps(changed)


_DELETE = object()


@pytest.mark.parametrize(
    ("event_type", "path", "value", "field", "reason_part"),
    [
        ("staff.health_checked", "payload.temperature", 45.5, "payload.temperature", "<= 45.0"),
        ("staff.health_checked", "payload.temperature", 29.9, "payload.temperature", ">= 30.0"),
        ("staff.health_checked", "payload.health_code", "blue", "payload.health_code", "Invalid enum value"),
        ("staff.health_checked", "payload.symptoms", ["sneezing"], "payload.symptoms[0]", "Invalid enum value"),
        ("parcels.received", "payload.item_count", 0, "payload.item_count", ">= 1"),
        ("parcels.received", "payload.item_count", -5, "payload.item_count", ">= 1"),
        ("parcels.received", "payload.origin_country", _DELETE, "payload", "origin_country is required"),
        ("parcels.disinfected", "payload.operator_id", "张三", "payload.operator_id", "matching regex"),
        ("site.registered", "payload.division_code", "990101", "payload.division_code", "matching regex"),
        ("site.registered", "payload.division_code", "33010", "payload.division_code", "matching regex"),
        ("site.registered", "payload.site_kind", "warehouse", "payload.site_kind", "Invalid enum value"),
        ("parcels.received", "occurred_at", "2026-11-23T08:00:00", "occurred_at", "timezone"),
        ("parcels.received", "occurred_at", "yesterday", "occurred_at", "Invalid RFC3339"),
        ("parcels.received", "event_id", "not-a-uuid", "event_id", "Invalid UUID"),
        ("parcels.received", "event_type", "parcels.lost", "event_type", "expected one of"),
        ("parcels.received", "payload.batch_id", _DELETE, "payload.batch_id", "missing required field"),
        ("parcels.received", "payload.colour", "red", "payload.colour", "unknown field"),
        ("parcels.received", "site_id", "site a1; DROP TABLE", "site_id", "matching regex"),
        ("route.planned", "payload.window_end", "2026-11-23T07:00:00+08:00", "payload", "window_end must be after"),
        ("staff.vaccinated", "payload.dose", 0, "payload.dose", ">= 1"),
    ],
)
def test_invalid_field_is_rejected_with_its_path_and_reason(event_type, path, value, field, reason_part):
    body = factories.examples()[event_type]
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(_with(body, path, value))
    assert caught.value.field == field
    assert reason_part in caught.value.reason


@pytest.mark.parametrize(
    ("event_type", "path", "text"),
    [
        ("anomaly.reported", "payload.description", "快递员 11010519491231002X 发烧"),
        ("anomaly.reported", "payload.community", "11010519491231002X"),
        ("parcels.disinfected", "payload.agent", "操作员:440524188001010014"),
        ("event.voided", "payload.reason", "身份证号11010519491231002X录错"),
        ("parcels.received", "payload.batch_id", "11010519491231002X"),
        ("parcels.received", "site_id", "440524188001010014"),
    ],
)
def test_raw_id_number_is_rejected_in_any_text_field(event_type, path, text):
    body = factories.examples()[event_type]
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(_with(body, path, text))
    assert caught.value.field == path
    assert "ID-card number" in caught.value.reason


def test_id_number_hidden_in_unicode_escapes_is_rejected():
    body = factories.examples()["anomaly.reported"]
    escaped = "".join(f"\\u{ord(c):04x}" for c in "11010519491231002X")
    raw = orjson.dumps(body).replace("小区门口聚集".encode(), escaped.encode())
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(raw)
    assert caught.value.field == "payload.description"


def test_phone_number_is_rejected_but_long_digit_runs_in_ids_are_not():
    body = factories.examples()["anomaly.reported"]
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(_with(body, "payload.description", "联系 13912345678"))
    assert "phone" in caught.value.reason
    # A pseudonym's hex digits and a 12-digit batch number are not personal data.
    batch = events.decode(_with(factories.examples()["parcels.received"], "payload.batch_id", "202611230001"))
    assert batch.payload.batch_id == "202611230001"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text", ["13912345678", "电话13912345678", "tel:13912345678", "+8613912345678", "(0)13912345678"]
)
def test_phone_number_after_any_byte_but_a_letter_or_digit_is_rejected(text):
    body = factories.examples()["anomaly.reported"]
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(_with(body, "payload.description", text))
    assert caught.value.field == "payload.description"


def test_eleven_digits_inside_a_word_are_not_a_phone_number():
    body = factories.examples()["anomaly.reported"]
    report = events.decode(_with(body, "payload.description", "批次A13912345678"))
    assert report.payload.description == "批次A13912345678"  # type: ignore[union-attr]


def test_sender_cannot_smuggle_a_plain_staff_id_number_as_pseudonym():
    body = factories.examples()["staff.health_checked"]
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(_with(body, "payload.staff_id", "11010519491231002X"))
    assert caught.value.field == "payload.staff_id"


def test_split_takes_one_object_or_an_array():
    one = factories.examples()["parcels.received"]
    assert len(events.split(orjson.dumps(one))) == 1
    assert len(events.split(orjson.dumps([one, one, one]))) == 3
    for bad in (b"42", b'"text"', b"nul", b"[1,", b"\xff\xfe"):
        with pytest.raises(events.InvalidEvent) as caught:
            events.split(bad)
        assert caught.value.field == "$"


def test_deep_nesting_and_text_that_is_not_utf8_are_invalid_json_not_a_crash():
    event = orjson.dumps(factories.examples()["anomaly.reported"])
    deep = event.replace(b'"grid_id":"G-12"', b'"grid_id":' + b'{"a":' * 5000 + b"1" + b"}" * 5000)
    not_utf8 = event.replace("小区".encode(), b"\xff\xfe")
    for bad, reason in (
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (deep, "nested too deeply"),
        (not_utf8, "UTF-8"),
    ):
        with pytest.raises(events.InvalidEvent) as caught:
            events.decode(events.split(bad)[0])
        assert (caught.value.field, reason in caught.value.reason) == ("$", True)


def test_event_id_is_read_even_from_an_invalid_event():
    body = factories.examples()["parcels.received"]
    raw = _with(body, "payload.item_count", -1)
    assert events.event_id_of(raw) == body["event_id"]
    assert events.event_id_of(b"[") is None


def test_events_are_frozen():
    event = events.decode(orjson.dumps(factories.examples()["parcels.received"]))
    with pytest.raises(AttributeError):
        event.site_id = "elsewhere"  # type: ignore[misc]
    assert event.site_id == factories.examples()["parcels.received"]["site_id"]


@pytest.mark.parametrize("offset", ["+08:00", "Z", "-05:30"])
def test_the_time_window_holds_from_max_age_before_now_to_the_clock_skew_after_in_any_zone(offset):
    now = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    window = events.TimeWindow(now, timedelta(days=400))

    def at(moment: datetime) -> events.AnyEvent:
        zone = msgspec.json.decode(orjson.dumps(f"2026-01-01T00:00:00{offset}"), type=datetime).tzinfo
        stamp = moment.astimezone(zone).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return events.decode(_with(factories.parcels_received(), "occurred_at", stamp))

    window.check(at(now + events.MAX_CLOCK_SKEW))
    window.check(at(now - timedelta(days=400)))
    with pytest.raises(events.InvalidEvent, match="is in the future") as future:
        window.check(at(now + events.MAX_CLOCK_SKEW + timedelta(milliseconds=1)))
    assert future.value.field == "occurred_at"
    with pytest.raises(events.InvalidEvent, match="more than 400 days before") as past:
        window.check(at(now - timedelta(days=400, milliseconds=1)))
    assert past.value.field == "occurred_at"


def test_the_time_window_compares_a_zone_with_daylight_saving_in_utc():
    # msgspec decodes fixed offsets only; a zone whose offset changes must not be compared field by
    # field. At 06:30 UTC on 1 November New York reads 01:30 for the second time (EST); 05:40 UTC,
    # 50 minutes earlier, read 01:40 (EDT), which is later by its fields.
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    window = events.TimeWindow(now, timedelta(days=400))
    event = events.decode(orjson.dumps(factories.parcels_received()))
    earlier = datetime(2026, 11, 1, 5, 40, tzinfo=UTC).astimezone(new_york)
    window.check(msgspec.structs.replace(event, occurred_at=earlier))
    later = (now + events.MAX_CLOCK_SKEW + timedelta(minutes=1)).astimezone(new_york)
    with pytest.raises(events.InvalidEvent, match="is in the future"):
        window.check(msgspec.structs.replace(event, occurred_at=later))
