"""The ClickHouse plugin's macros and Grafana's variables, expanded as they are in the browser.

Used to run every panel's SQL in the tests and to produce the daily report from the same queries.
Expansions follow the plugin (pkg/macros/macros.go); both range ends are inclusive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

Value = str | Sequence[str]
ALL = "$__all"


def expand(sql: str, since: datetime, until: datetime, variables: Mapping[str, Value], interval_s: int = 60) -> str:
    start, end = int(since.timestamp()), int(until.timestamp())
    text = _conditional_all(sql, variables)
    text = re.sub(r"\$__timeFilter_ms\(([^)]+)\)", lambda m: _range(m[1], _ms(start * 1000), _ms(end * 1000)), text)
    text = re.sub(
        r"\$__timeFilter\(([^)]+)\)", lambda m: _range(m[1], f"toDateTime({start})", f"toDateTime({end})"), text
    )
    text = re.sub(
        r"\$__dateFilter\(([^)]+)\)",
        lambda m: _range(m[1], f"toDate('{since:%Y-%m-%d}')", f"toDate('{until:%Y-%m-%d}')"),
        text,
    )
    text = re.sub(
        r"\$__timeInterval\(([^)]+)\)",
        lambda m: f"toStartOfInterval(toDateTime({m[1].strip()}), INTERVAL {max(1, interval_s)} second)",
        text,
    )
    text = text.replace("$__fromTime_ms", _ms(start * 1000)).replace("$__toTime_ms", _ms(end * 1000))
    text = text.replace("$__fromTime", f"toDateTime({start})").replace("$__toTime", f"toDateTime({end})")
    text = text.replace("$__interval_s", str(max(1, interval_s)))
    return _variables(text, variables)


def _range(column: str, low: str, high: str) -> str:
    column = column.strip()
    return f"{column} >= {low} AND {column} <= {high}"


def _ms(value: int) -> str:
    return f"fromUnixTimestamp64Milli({value})"


def _is_all(value: Value | None) -> bool:
    if value is None:
        return True
    values = [value] if isinstance(value, str) else list(value)
    return not values or ALL in values


def _conditional_all(sql: str, variables: Mapping[str, Value]) -> str:
    pattern = re.compile(r"\$__conditionalAll\((?P<cond>.*?),\s*\$\{?(?P<var>\w+)\}?\)", re.S)
    return pattern.sub(lambda m: "1=1" if _is_all(variables.get(m["var"])) else m["cond"], sql)


def _variables(sql: str, variables: Mapping[str, Value]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, fmt = match["name"] or match["bare"], match["fmt"]
        if name.startswith("__"):
            return match[0]
        value = variables.get(name, "")
        values = [value] if isinstance(value, str) else list(value)
        if fmt == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        return ",".join(values)

    return re.sub(r"\$\{(?P<name>\w+)(?::(?P<fmt>\w+))?\}|\$(?P<bare>[A-Za-z]\w*)", replace, sql)
