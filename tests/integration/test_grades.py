"""网点分级 as the catalogue defines it, on a warehouse laid out for it: red with an open critical
alert, yellow with an overdue test or too many late records in the window, green otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboards.grades import GRADING, graded_sites
from dashboards.macros import ALL, expand
from tests.factories import BASE_TIME

pytestmark = pytest.mark.integration
AT = "toDateTime64('2026-11-23 08:00:00', 3, 'Asia/Shanghai')"


def site(warehouse, site_id: str) -> None:
    warehouse.execute(
        "INSERT INTO sites (site_id, enterprise_id, brand, division_code, name, registered_at) "
        f"VALUES ('{site_id}', 'ent', 'b', '330106', '{site_id}', {AT} - INTERVAL 30 DAY)"
    )


def alert(warehouse, site_id: str, rule: str, severity: str, subject: str) -> None:
    warehouse.execute(
        "INSERT INTO alerts (alert_id, alert_type, rule_id, severity, site_id, division_code, subject_id, at) "
        f"VALUES (generateUUIDv4(), 'alert.raised', '{rule}', '{severity}', '{site_id}', '330106', '{subject}', {AT})"
    )


def records(warehouse, site_id: str, total: int, late: int) -> None:
    warehouse.execute(
        "INSERT INTO raw_events (event_id, event_type, occurred_at, received_at, enterprise_id, site_id, "
        "division_code, brand, payload) SELECT generateUUIDv4(number), 'staff.shift_started', "
        f"{AT} - INTERVAL 3 DAY, if(number < {late}, {AT}, {AT} - INTERVAL 3 DAY), 'ent', '{site_id}', '330106', "
        f"'b', '{{}}' FROM numbers({total})"
    )


def test_each_grade_follows_the_catalogue(clean_warehouse):
    for site_id in ("red", "yellow-tests", "yellow-late", "green", "green-few-late"):
        site(clean_warehouse, site_id)
    alert(clean_warehouse, "red", "DIS-IMPORT", "critical", "B-1")
    alert(clean_warehouse, "yellow-tests", "STAFF-TEST-DUE", "major", "ps_1")
    records(clean_warehouse, "yellow-late", total=10, late=2)  # 20 %: over the catalogue's 10 %
    records(clean_warehouse, "green-few-late", total=20, late=1)  # 5 %
    records(clean_warehouse, "green", total=5, late=0)
    assert GRADING.yellow_late_record_rate == 0.1
    sql = expand(
        f"SELECT site_id, grade FROM ({graded_sites()}) ORDER BY site_id",
        BASE_TIME - GRADING.window,
        BASE_TIME + timedelta(hours=1),
        {"jurisdiction": "3301", "brand": ALL, "site": ALL},
    )
    grades = {row["site_id"]: row["grade"] for row in clean_warehouse.query(sql)}
    assert grades == {"red": "红", "yellow-tests": "黄", "yellow-late": "黄", "green": "绿", "green-few-late": "绿"}


def test_late_records_outside_the_window_do_not_count(clean_warehouse):
    site(clean_warehouse, "once-late")
    records(clean_warehouse, "once-late", total=10, late=5)
    sql = expand(
        f"SELECT grade FROM ({graded_sites()})",
        BASE_TIME,
        BASE_TIME + GRADING.window + timedelta(days=1),  # the records, 3 days before BASE_TIME, fall out
        {"jurisdiction": "3301", "brand": ALL, "site": ALL},
    )
    assert clean_warehouse.query(sql) == [{"grade": "绿"}]
