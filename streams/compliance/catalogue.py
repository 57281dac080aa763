"""The rule catalogue: rule ids, texts, severity and thresholds per profile, loaded from YAML.

Each rule's thresholds have a model, so a catalogue with a missing, unknown or malformed value
fails to load with a message naming the rule, the profile and the field.
"""

from __future__ import annotations

import re
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "catalogue.yaml"
Profile = Literal["normal", "response"]
PROFILES: tuple[Profile, ...] = ("normal", "response")
Severity = Literal["critical", "major", "minor"]
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CatalogueError(ValueError):
    pass


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
    pass


class Deadline(Thresholds):
    deadline: Duration


class Rest(Thresholds):
    rest: Duration


class PerDay(Thresholds):
    per_day: int = Field(ge=1)


class Interval(Thresholds):
    interval: Duration


class Cutoff(Thresholds):
    cutoff: ClockTime


class Fever(Thresholds):
    fever_at: float = Field(ge=35.0, le=42.0)


class RoleIntervals(Thresholds):
    intervals: dict[
        Literal["international_exposed", "international_handler", "courier", "sorter", "driver", "other_logistics"],
        Duration,
    ]


class ContactWindow(Thresholds):
    contact_window: Duration


class TestWithin(Thresholds):
    test_within: Duration


class Grace(Thresholds):
    grace: Duration


class MaxDwell(Thresholds):
    max_dwell: Duration


class MaxDelay(Thresholds):
    max_delay: Duration


class PerMonth(Thresholds):
    per_month: int = Field(ge=1)


THRESHOLDS: dict[str, type[Thresholds]] = {
    "DIS-IMPORT": Deadline,
    "DIS-DOMESTIC": Deadline,
    "DIS-COVERAGE": NoThresholds,
    "DIS-BEFORE-DISPATCH": NoThresholds,
    "REST-IMPORT": Rest,
    "SITE-DISINFECT": PerDay,
    "SITE-ENV-SAMPLE": Interval,
    "STAFF-CHECK": Cutoff,
    "STAFF-FEVER": Fever,
    "STAFF-WORKED-SICK": NoThresholds,
    "STAFF-TEST-DUE": RoleIntervals,
    "STAFF-POSITIVE": ContactWindow,
    "VEH-DRIVER-TEST": TestWithin,
    "VEH-OFF-ROUTE": NoThresholds,
    "VEH-OVERDUE": Grace,
    "VEH-SEAL": NoThresholds,
    "VEH-DWELL": MaxDwell,
    "LEDGER-LATE": MaxDelay,
    "INSPECT-MONTHLY": PerMonth,
}


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Severity
    title: Text
    description: Text
    normal: dict[str, Any]
    response: dict[str, Any]


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    severity: Severity
    title: Text
    description: Text
    profiles: dict[str, Thresholds]

    def limits(self, profile: Profile) -> Any:
        return self.profiles[profile]


class Grading(BaseModel):
    """A site's grade (网点分级), shown as its colour: red with open critical alerts, yellow with overdue
    tests or too many late records over the window, green otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: Text
    red_open_critical_alerts: int = Field(ge=1)
    yellow_overdue_tests: int = Field(ge=1)
    yellow_late_record_rate: float = Field(gt=0, le=1)
    window: Duration


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: str
    allowed_lateness: timedelta
    rules: dict[str, Rule]
    grading: Grading
    backfill_wait: timedelta = timedelta(minutes=15)

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    @property
    def late_after(self) -> timedelta:
        """When a record is late (补录): received this long after what it records (LEDGER-LATE, normal)."""
        delay: timedelta = self.rules["LEDGER-LATE"].limits("normal").max_delay
        return delay


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1)
    allowed_lateness: Duration
    backfill_wait: Duration = timedelta(minutes=15)
    rules: dict[str, RuleSpec]
    grading: Grading


def load(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from None
    return parse(raw, str(path))


def parse(raw: Any, source: str = "catalogue") -> Catalogue:
    try:
        document = _CatalogueFile.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"{source}: {_first_error(exc)}") from None
    unknown = sorted(set(document.rules) - set(THRESHOLDS))
    if unknown:
        raise CatalogueError(f"{source}: rule {unknown[0]}: unknown rule id (known: {', '.join(THRESHOLDS)})")
    missing = sorted(set(THRESHOLDS) - set(document.rules))
    if missing:
        raise CatalogueError(f"{source}: rule {missing[0]}: missing from the catalogue")
    rules = {}
    for rule_id, spec in document.rules.items():
        profiles: dict[str, Thresholds] = {}
        for profile in PROFILES:
            try:
                profiles[profile] = THRESHOLDS[rule_id].model_validate(getattr(spec, profile))
            except ValidationError as exc:
                raise CatalogueError(f"{source}: rule {rule_id}, profile {profile}: {_first_error(exc)}") from None
        rules[rule_id] = Rule(
            id=rule_id, severity=spec.severity, title=spec.title, description=spec.description, profiles=profiles
        )
    return Catalogue(
        version=document.version,
        allowed_lateness=document.allowed_lateness,
        backfill_wait=document.backfill_wait,
        rules=rules,
        grading=document.grading,
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"field {where}: {error['msg']}"
