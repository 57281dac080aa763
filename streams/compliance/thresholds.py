"""What a rule's thresholds are made of: the base model each rule module's threshold models extend,
and the value types the catalogue's YAML spells (durations such as `4h`, times of day such as `10:00`).

A rule module declares one model per rule id (`RuleFamily.thresholds`); the catalogue validates each
profile's values against it, so a missing, unknown or malformed value fails to load naming the rule,
the profile and the field, and a rule reads its values typed (`Context.limits`).
"""

from __future__ import annotations

import re
from datetime import time as clock_time
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value).strip())
    if match is None:
        raise ValueError(f"expected a duration such as 30m, 4h or 3.5d, got {value!r}")
    return timedelta(seconds=float(match["n"]) * _UNITS[match["unit"]])


def _clock(value: Any) -> clock_time:
    if isinstance(value, clock_time):
        return value
    try:
        hours, minutes = str(value).split(":")
        return clock_time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"expected a time of day such as 10:00, got {value!r}") from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]
ClockTime = Annotated[clock_time, BeforeValidator(_clock)]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoThresholds(Thresholds):
    """A rule with no values to set: the catalogue gives it `{}` in each profile."""
