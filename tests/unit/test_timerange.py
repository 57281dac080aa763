"""Grafana's URL time ranges, parsed as Grafana does, on the dashboard's time zone."""

from __future__ import annotations

from datetime import datetime

import pytest

from dashboards.timerange import SHANGHAI, TimeRangeError, parse_range

NOW = datetime(2026, 3, 31, 15, 42, 7, 250_000, tzinfo=SHANGHAI)


def test_last_24_hours_ends_now():
    span = parse_range("now-24h", "now", NOW)
    assert span.since == datetime(2026, 3, 30, 15, 42, 7, 250_000, tzinfo=SHANGHAI)
    assert span.until == NOW


def test_today_so_far_rounds_from_down_and_to_up_on_shanghai_days():
    span = parse_range("now/d", "now/d", NOW)
    assert span.since == datetime(2026, 3, 31, tzinfo=SHANGHAI)
    assert span.until == datetime(2026, 3, 31, 23, 59, 59, 999_000, tzinfo=SHANGHAI)


def test_yesterday_is_one_day_back_then_rounded():
    span = parse_range("now-1d/d", "now-1d/d", NOW)
    assert (span.since.day, span.since.hour, span.until.day, span.until.hour) == (30, 0, 30, 23)


def test_a_month_back_from_the_31st_lands_on_the_last_day_of_february():
    assert parse_range("now-1M", "now", NOW).since.date().isoformat() == "2026-02-28"


def test_this_week_starts_on_monday():
    assert parse_range("now/w", "now", NOW).since == datetime(2026, 3, 30, tzinfo=SHANGHAI)


def test_epoch_milliseconds_are_instants():
    span = parse_range("1774800000000", "1774886400000", NOW)
    assert span.seconds == 86400
    assert span.since.tzinfo is SHANGHAI


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", "now", "from"),
        ("now", "now-1h", "from"),
        ("now-1h", "now+", "to"),
        ("now-99999999y", "now", "from"),
    ],
)
def test_bad_ranges_name_the_end_at_fault(since, until, field):
    with pytest.raises(TimeRangeError) as caught:
        parse_range(since, until, NOW)
    assert caught.value.field == field


@pytest.mark.parametrize(("hours", "bucket"), [(1, 30), (24, 300), (24 * 7, 3600), (24 * 30, 3 * 3600)])
def test_the_bucket_keeps_a_panel_under_about_300_points(hours, bucket):
    span = parse_range(f"now-{hours}h", "now", NOW)
    assert span.interval_s() == bucket
