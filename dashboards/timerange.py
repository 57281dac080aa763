"""Grafana's time range, as its URLs spell it (`from=now-24h&to=now`, `now/d`, epoch milliseconds).

The console parses a dashboard's range on the server, so the instants its panels' SQL is expanded
with are the ones Grafana would use: `now-7d` moves back seven days, `/d` rounds to the day's start
for `from` and to its last millisecond for `to`, in the dashboard's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_RELATIVE = re.compile(r"^now(?P<shift>(?:[+-]\d+[smhdwMy])*)(?:/(?P<round>[smhdwMy]))?$")
_STEP = re.compile(r"([+-])(\d+)([smhdwMy])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Grafana's refresh choices; `refresh=` in a URL must be one of them (or absent).
REFRESH_CHOICES = ("5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h")


class TimeRangeError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class TimeRange:
    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()

    def interval_s(self, points: int = 300) -> int:
        """A whole, round bucket that splits the range into at most about `points` buckets."""
        raw = max(1.0, self.seconds / points)
        for step in (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
            if step >= raw:
                return step
        return 30 * 86400


def parse_range(since: str, until: str, now: datetime, tz: ZoneInfo = SHANGHAI) -> TimeRange:
    """Both ends as Grafana reads them; `from` must come before `to`."""
    start = parse_instant(since, now, tz, field="from", end=False)
    stop = parse_instant(until, now, tz, field="to", end=True)
    if start >= stop:
        raise TimeRangeError("from", "must be earlier than to")
    return TimeRange(start, stop)


def parse_instant(text: str, now: datetime, tz: ZoneInfo, field: str, end: bool) -> datetime:
    text = text.strip()
    if text.isdigit() and len(text) <= 15:
        return datetime.fromtimestamp(int(text) / 1000, tz)
    match = _RELATIVE.match(text)
    if match is None:
        raise TimeRangeError(field, "expected epoch milliseconds or a relative time such as now-24h or now/d")
    moment = now.astimezone(tz)
    try:
        for sign, amount, unit in _STEP.findall(match["shift"] or ""):
            moment = _shift(moment, int(amount) * (1 if sign == "+" else -1), unit)
        if match["round"]:
            moment = _round(moment, match["round"], end)
    except (OverflowError, ValueError):
        raise TimeRangeError(field, "out of the calendar's range") from None
    return moment


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in _UNITS:
        return moment + timedelta(**{_UNITS[unit]: amount})
    months = moment.month - 1 + amount * (12 if unit == "y" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, _days_in(year, month)))


def _round(moment: datetime, unit: str, end: bool) -> datetime:
    start = moment.replace(microsecond=0)
    if unit == "s":
        following = start + timedelta(seconds=1)
    elif unit == "m":
        start = start.replace(second=0)
        following = start + timedelta(minutes=1)
    elif unit == "h":
        start = start.replace(minute=0, second=0)
        following = start + timedelta(hours=1)
    elif unit in ("d", "w"):
        start = start.replace(hour=0, minute=0, second=0)
        if unit == "w":  # Grafana's weeks start on Monday (ISO)
            start -= timedelta(days=start.weekday())
        following = start + timedelta(days=7 if unit == "w" else 1)
    elif unit == "M":
        start = start.replace(day=1, hour=0, minute=0, second=0)
        following = _shift(start, 1, "M")
    else:
        start = start.replace(month=1, day=1, hour=0, minute=0, second=0)
        following = _shift(start, 1, "y")
    return following - timedelta(milliseconds=1) if end else start


def _days_in(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
