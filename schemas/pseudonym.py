"""Keyed pseudonyms for people: staff are never known by their ID-card number in events.

pseudonym = "ps_" + first 32 hex digits of HMAC-SHA256(deployment secret, normalized ID number).
The same person gets the same pseudonym within one deployment; without the secret the number cannot
be recovered or confirmed by guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_ID_NUMBER = re.compile(r"^[1-9][0-9]{16}[0-9X]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class InvalidIdNumber(ValueError):
    pass


def check_digit(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character of the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def normalize(id_number: str) -> str:
    number = id_number.strip().upper()
    if not _ID_NUMBER.match(number):
        raise InvalidIdNumber("id_number: expected 18 characters, 17 digits then a digit or X")
    if check_digit(number[:17]) != number[17]:
        raise InvalidIdNumber("id_number: the check character does not match (GB 11643)")
    return number


def pseudonymize(id_number: str, key: bytes) -> str:
    if len(key) < 16:
        raise ValueError("pseudonym key: at least 16 bytes are required")
    digest = hmac.new(key, normalize(id_number).encode(), hashlib.sha256).hexdigest()
    return f"ps_{digest[:32]}"
