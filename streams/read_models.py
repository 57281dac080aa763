"""Read models of the alerts table, in one place for the dashboards' SQL, the alert rules and the
regulator API: what an open alert is, and an alert's raised row.

The alerts table keeps every `alert.raised` and `alert.resolved` (a tracked alert may be resolved
again, as in time, when a record posted later shows it was no violation; DESIGN.md §8b)."""

from __future__ import annotations

from typing import Any

from streams.compliance.catalogue import Profile
from streams.warehouse import literal

# Raised and not resolved, as the records stand now: for services and alert rules.
OPEN_NOW = (
    "alert_type = 'alert.raised' AND alert_id NOT IN (SELECT alert_id FROM alerts WHERE alert_type = 'alert.resolved')"
)
# Open at the end of the range a panel shows (raised by then and not resolved by then, in event time
# as the records stand): over a range ending now the same as OPEN_NOW, in a day's report that day's.
OPEN = (
    "alert_type = 'alert.raised' AND at <= $__toTime AND alert_id NOT IN "
    "(SELECT alert_id FROM alerts WHERE alert_type = 'alert.resolved' AND at <= $__toTime)"
)


def raised(where: str) -> str:
    """Each alert's raised row once (a replay may store it again), newest first, under `where`."""
    return f"SELECT * FROM alerts WHERE alert_type = 'alert.raised' AND {where} ORDER BY at DESC LIMIT 1 BY alert_id"


def level_now(division_code: str, at: str) -> str:
    """The response level in force in a division at `at` (a SQL moment): the latest set for it or for a
    division containing it, as one row `level_now` ('' when none was ever set). Its profile is
    `profile_of` that row: the one the rules judge a new deadline by."""
    return (
        "SELECT argMax(level, effective_at) AS level_now FROM policy_levels "
        f"WHERE startsWith({literal(division_code)}, division_code) AND effective_at <= {at}"
    )


def profile_of(rows: list[dict[str, Any]]) -> Profile:
    return "response" if rows and rows[0]["level_now"] == "response" else "normal"
