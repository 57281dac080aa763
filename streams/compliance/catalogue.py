"""The rule catalogue: rule ids, texts, severity and thresholds per profile, loaded from YAML.

The rule ids and each one's threshold model come from the rule modules (`streams.compliance.rules`),
so a catalogue with a rule no module runs, a rule missing, or a missing, unknown or malformed value
fails to load with a message naming the rule, the profile and the field.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.compliance.rules import THRESHOLDS
from streams.compliance.rules.ledger import LedgerRule, MaxDelay
from streams.compliance.thresholds import Duration, Thresholds

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "catalogue.yaml"
Profile = Literal["normal", "response"]
PROFILES: tuple[Profile, ...] = ("normal", "response")
Severity = Literal["critical", "major", "minor"]
T = TypeVar("T", bound=Thresholds)


class CatalogueError(ValueError):
    pass


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

    def limits(self, profile: Profile, model: type[T]) -> T:
        """The rule's thresholds in `profile`, as the model its module declares."""
        limits = self.profiles[profile]
        if not isinstance(limits, model):
            raise TypeError(f"rule {self.id}: thresholds are {type(limits).__name__}, not {model.__name__}")
        return limits


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
        return self.rules[LedgerRule.LATE].limits("normal", MaxDelay).max_delay


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
