from __future__ import annotations

import pytest

from schemas import events
from schemas.pseudonym import InvalidIdNumber, check_digit, pseudonymize
from tests import factories

KEY = b"0123456789abcdef-test-key"


def test_check_digit_follows_gb11643():
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"


def test_same_person_same_key_gives_the_same_pseudonym_and_other_key_another():
    first = pseudonymize("11010519491231002X", KEY)
    assert first == pseudonymize(" 11010519491231002x ", KEY)
    assert first != pseudonymize("11010519491231002X", b"another-key-of-16-bytes")
    assert first != pseudonymize("440524188001010014", KEY)


def test_pseudonym_is_accepted_as_staff_id_and_does_not_contain_the_number():
    staff_id = pseudonymize("11010519491231002X", KEY)
    assert "11010519491231002X" not in staff_id
    body = factories.health_checked()
    body["payload"]["staff_id"] = staff_id
    import orjson

    assert events.decode(orjson.dumps(body)).payload.staff_id == staff_id  # type: ignore[union-attr]


@pytest.mark.parametrize("number", ["11010519491231002", "110105194912310021", "A1010519491231002X"])
def test_malformed_or_wrong_checksum_id_numbers_are_refused(number):
    with pytest.raises(InvalidIdNumber):
        pseudonymize(number, KEY)


def test_short_key_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        pseudonymize("11010519491231002X", b"short")
