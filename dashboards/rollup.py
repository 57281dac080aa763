"""Panels over the hourly rollups (schemas/migrations/009_hourly_rollups.sql), exact to the second.

A panel's range splits in three: the whole hours inside it come from a rollup table, the partial
hours at its two ends from the event table, and the two answers are added. A time series whose
bucket is not a whole number of hours (under 30 min; 30 min and more round up to whole hours)
reads the event table alone. Either way the answer equals a scan of the event table.
"""

from __future__ import annotations

from dashboards.spec import SCOPE

# The first whole hour in the range, and the hour the range's end falls in: rollup rows cover
# [FIRST_HOUR, LAST_HOUR), event rows the rest of [$__fromTime, $__toTime].
FIRST_HOUR = "toStartOfHour(addSeconds($__fromTime, 3599), 'Asia/Shanghai')"
LAST_HOUR = "toStartOfHour($__toTime, 'Asia/Shanghai')"
BUCKET_S = "if($__interval_s >= 1800, intDiv($__interval_s + 3599, 3600) * 3600, $__interval_s)"
WHOLE_BUCKETS = f"{BUCKET_S} % 3600 = 0"


def bucket(column: str) -> str:
    """A time series' bucket: Grafana's interval, rounded up to whole hours from 30 min."""
    return f"toStartOfInterval(toDateTime({column}), toIntervalSecond({BUCKET_S}))"


def whole_hours(series: bool = False) -> str:
    """Rollup rows (column `hour`) inside the range, for a time series only when buckets are whole hours."""
    condition = f"hour >= {FIRST_HOUR} AND hour < {LAST_HOUR}"
    return f"{condition} AND {WHOLE_BUCKETS}" if series else condition


def partial_hours(column: str, series: bool = False) -> str:
    """Event rows in the range that the rollup rows do not cover."""
    outside = f"{column} < {FIRST_HOUR} OR {column} >= {LAST_HOUR}"
    if series:
        outside += f" OR NOT {WHOLE_BUCKETS}"
    return f"$__timeFilter({column}) AND ({outside})"


def whole_and_partial(
    rollup: str,
    table: str,
    rollup_columns: str,
    event_columns: str,
    condition: str,
    group_by: str = "",
    *,
    series: bool = False,
) -> str:
    """The UNION ALL of `rollup_columns` over the rollup's whole hours and `event_columns` over the
    event table's partial hours, both filtered by `condition` and SCOPE (and grouped by `group_by`):
    the two selects must give the same columns."""
    group = f" GROUP BY {group_by}" if group_by else ""
    return (
        f"SELECT {rollup_columns} FROM {rollup} WHERE {condition} AND {whole_hours(series)} AND {SCOPE}{group} "
        f"UNION ALL SELECT {event_columns} FROM {table} WHERE {condition} "
        f"AND {partial_hours('occurred_at', series)} AND {SCOPE}{group}"
    )


def events_total(rollup: str, table: str, condition: str = "1") -> str:
    """`SELECT … AS n`: how many events of `table` in the range meet `condition` (filtered by SCOPE)."""
    return (
        f"SELECT sum(n) AS n FROM ({whole_and_partial(rollup, table, 'sum(events) AS n', 'count() AS n', condition)})"
    )


def series_by_type(rollup: str, table: str, measures: dict[str, str], sums: tuple[str, str] | None = None) -> str:
    """A time series with a column per measure (Chinese name: event type): the events of that type per
    bucket, or with `sums` (rollup column, event column) the sum of that column over them."""
    rollup_value, event_value = sums or ("events", "1")
    kinds = list(measures.values())
    columns = ", ".join(f"sum(m{n}) AS `{name}`" for n, name in enumerate(measures))
    from_rollup = ", ".join(f"sumIf({rollup_value}, event_type = '{kind}') AS m{n}" for n, kind in enumerate(kinds))
    from_events = ", ".join(f"sumIf({event_value}, event_type = '{kind}') AS m{n}" for n, kind in enumerate(kinds))
    of_kinds = f"event_type IN ({', '.join(repr(kind) for kind in kinds)})"
    union = whole_and_partial(
        rollup,
        table,
        f"{bucket('hour')} AS time, {from_rollup}",
        f"{bucket('occurred_at')} AS time, {from_events}",
        of_kinds,
        "time",
        series=True,
    )
    return f"SELECT time, {columns} FROM ({union}) GROUP BY time ORDER BY time"
