"""Checks judged on facts: a verdict is a function of a subject's records in event time.

A rule that keeps its facts (not a running summary folded in arrival order) arms a check at its
deadline and, whenever a record of the subject arrives after that, arms it again: the check
computes a `Verdict` on the facts as they stand and `settle` brings the alerts in line with it.
So the final state does not depend on the order the records arrived in (DESIGN.md §8b); only the
late flags do (a deadline that passed before its record came raises, then resolves as
`record_after_deadline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from schemas.alerts import SubjectKind
from streams.compliance.engine import TRACKED_ALERT_MS, Context, OpenAlert, rule_subject

JUDGED = "_judged"  # rule data: "<rule>|<subject>" -> what was raised and how it was resolved


class Judged(TypedDict):
    """A violation raised for a subject, and how it was resolved."""

    deadline: int
    tracked: OpenAlert | None  # as the key tracked it when raised: to resolve it again
    late: bool  # resolved as late (action_after_deadline)


def _judged(ctx: Context) -> dict[str, Judged]:
    return cast("dict[str, Judged]", ctx.data(JUDGED))


@dataclass(frozen=True)
class Verdict:
    """A check's outcome on the facts as they stand."""

    deadline: int
    violated: bool
    evidence: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # The record that put it right and when: after the deadline (a violation, settled late), or by
    # it (none: the alert, raised before this record came, is resolved as record_after_deadline).
    settled_at: int | None = None
    settled_by: list[str] = field(default_factory=list)


def settle(ctx: Context, rule_id: str, kind: SubjectKind, subject: str, verdict: Verdict) -> None:
    """Raise a violation once, and resolve it when the facts settle it (late, or as no violation).

    A violation resolved as late (`action_after_deadline`) that a record posted later shows was no
    violation (a movement, a sample that came in time after all) is resolved again, as
    `record_after_deadline`: the alert keeps its id, and the later resolution replaces the earlier."""
    judged = _judged(ctx)
    name = rule_subject(rule_id, subject)
    earlier = judged.get(name)
    if earlier is not None and earlier["deadline"] != verdict.deadline:
        # Raised with a deadline a record posted later moved (a plan, a level): that alert was no violation.
        _resolve_in_time(ctx, rule_id, subject, earlier, verdict.settled_by)
        del judged[name]
    if verdict.violated and name not in judged:
        ctx.raise_alert(rule_id, kind, subject, verdict.deadline, verdict.evidence, verdict.details)
        judged[name] = Judged(deadline=verdict.deadline, tracked=ctx.state["open"].get(name), late=False)
    seen = judged.get(name)
    if seen is None:
        return
    if not verdict.violated:
        _resolve_in_time(ctx, rule_id, subject, seen, verdict.settled_by)
    elif verdict.settled_at is not None:
        again = None if seen["late"] else seen["tracked"]  # resolved in time on fewer facts: late after all
        if ctx.resolve_alert(rule_id, subject, verdict.settled_by, action_at=verdict.settled_at, again=again):
            seen["late"] = verdict.settled_at > seen["deadline"]


def _resolve_in_time(ctx: Context, rule_id: str, subject: str, seen: Judged, evidence: list[str]) -> None:
    again = seen["tracked"] if seen["late"] else None  # resolved as late before this record came: again, in time
    ctx.resolve_alert(rule_id, subject, evidence, action_at=seen["deadline"], again=again)
    seen["late"] = False


def forget_judged(ctx: Context) -> None:
    """Drop what was raised past the horizon (its records could no longer settle it)."""
    judged = _judged(ctx)
    horizon = ctx.watermark - TRACKED_ALERT_MS
    for name in [name for name, seen in judged.items() if seen["deadline"] < horizon]:
        del judged[name]
