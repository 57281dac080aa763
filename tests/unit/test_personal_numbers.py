"""Personal numbers in free text, in every spelling a person types them (issue 33): an 18-digit
resident ID number or a mainland mobile number is refused however it is grouped, padded or
disguised; batch numbers, waybill numbers, dates and counts are not personal numbers."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from schemas import events
from schemas.envelope import IDENTIFIER_PATTERN
from tests import factories

ZERO_WIDTH = "\u200b"


def anomaly(description: str) -> bytes:
    body: dict[str, Any] = factories.examples()["anomaly.reported"]
    body["payload"]["description"] = description
    return orjson.dumps(body)


def batch(batch_id: str) -> bytes:
    body: dict[str, Any] = factories.examples()["parcels.received"]
    body["payload"]["batch_id"] = batch_id
    return orjson.dumps(body)


ID_SPELLINGS = {
    "plain": "11010519491231002X",
    "grouped 6-8-4": "110105 19491231 002X",
    "grouped by four": "1101 0519 4912 3100 2X",
    "hyphenated": "110105-19491231-002X",
    "dotted": "110105.19491231.002x",
    "full-width": "１１０１０５１９４９１２３１００２Ｘ",
    "full-width, spaced": "１１０１０５　１９４９１２３１　００２Ｘ",
    "zero-width split": f"110105{ZERO_WIDTH}19491231{ZERO_WIDTH}002X",
    "in a sentence": "当事人身份证110105 1949 1231 002X，已登记",
}
MOBILE_SPELLINGS = {
    "plain": "13800138000",
    "+86": "+8613800138000",
    "+86 spaced": "+86 138 0013 8000",
    "(+86)": "(+86)13800138000",
    "0086": "008613800138000",
    "0086 spaced": "0086 138 0013 8000",
    "86": "86 13800138000",
    "3-4-4": "138 0013 8000",
    "hyphenated": "138-0013-8000",
    "full-width": "１３８００１３８０００",
    "full-width hyphens": "１３８－００１３－８０００",
    "zero-width split": f"138{ZERO_WIDTH}0013{ZERO_WIDTH}8000",
    "two in a row": "13800138000 13900139000",
    "after Chinese": "联系人电话138 0013 8000",
}
NOT_PERSONAL = {
    "batch with date": "B-20261123-0001",
    "simulator batch": "yunda-330109-0010-20261206-02",
    "division, date, sequence (no valid check digit)": "B-330106-20001231-0002",
    "12-digit waybill": "773012345678",
    "13-digit waybill": "SF1234567890123",
    "14-digit waybill": "75312345678901",
    "waybill with letters": "JDVA12345678901",
    "date and time": "2026-11-23 09:00",
    "temperature": "36.5",
    "counts": "3 箱 120 件",
    "pseudonym": "ps_696f0f87c53ba005cf17c8c2e559c7db",
    "eleven digits inside a word": "批次A13912345678",
    "ID-like with an impossible birth date": "110105 19491331 0021",
}


REFUSED = [(text, "ID-card") for text in ID_SPELLINGS.values()] + [
    (text, "phone") for text in MOBILE_SPELLINGS.values()
]
REFUSED_IDS = [f"ID {name}" for name in ID_SPELLINGS] + [f"mobile {name}" for name in MOBILE_SPELLINGS]


@pytest.mark.parametrize(("spelling", "named"), REFUSED, ids=REFUSED_IDS)
def test_a_personal_number_in_any_spelling_is_refused_naming_the_field(spelling: str, named: str) -> None:
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(anomaly(spelling))
    assert caught.value.field == "payload.description"
    assert named in caught.value.reason


@pytest.mark.parametrize("text", NOT_PERSONAL.values(), ids=NOT_PERSONAL.keys())
def test_look_alikes_pass(text: str) -> None:
    assert events.decode(anomaly(text)).payload.description == text  # type: ignore[union-attr]
    if re.fullmatch(IDENTIFIER_PATTERN, text):  # as a batch number, too
        assert events.decode(batch(text)).payload.batch_id == text  # type: ignore[union-attr]


def test_an_escaped_spelling_is_refused_too() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in "１３８ ００１３ ８０００")
    raw = anomaly("X").replace(b'"X"', b'"' + escaped.encode() + b'"')
    with pytest.raises(events.InvalidEvent) as caught:
        events.decode(raw)
    assert "phone" in caught.value.reason
