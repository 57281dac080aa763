"""The daily report: figures checked against ClickHouse, rendered by headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, time, timedelta

import msgspec
import pytest
from PIL import Image

from dashboards.report import SHANGHAI, gather, render
from schemas.alerts import AlertResolved
from streams.records import Record
from streams.row_sink import RowSink, alert_row
from tests.factories import BASE_TIME

pytestmark = pytest.mark.integration
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is needed: `make browser` installs Debian's chromium"
    return path


def test_report_figures_match_clickhouse_and_the_page_renders(seeded, tmp_path):
    day = BASE_TIME.date()
    report = gather(seeded, "33", day)
    events = seeded.query(
        "SELECT count() AS n FROM raw_events WHERE toDate(occurred_at) = toDate('2026-11-23') "
        "AND startsWith(division_code, '33')"
    )[0]["n"]
    critical = seeded.query(
        "SELECT uniqExact(alert_id) AS n FROM alerts WHERE severity = 'critical' AND alert_type = 'alert.raised' "
        "AND alert_id NOT IN (SELECT alert_id FROM alerts WHERE alert_type = 'alert.resolved')"
    )[0]["n"]
    worst = seeded.query(
        "SELECT site_id, uniqExact(alert_id) AS n FROM alerts WHERE alert_type = 'alert.raised' "
        "AND toDate(at) = toDate('2026-11-23') GROUP BY site_id ORDER BY n DESC, site_id LIMIT 1"
    )[0]
    assert dict((t, v) for t, v, _ in report.headlines)["事件总数"] == events
    assert len(report.critical_alerts) == critical > 0
    assert (report.worst_sites[0]["网点"], report.worst_sites[0]["预警数"]) == (worst["site_id"], worst["n"])

    page = tmp_path / "report.html"
    page.write_text(render(report), encoding="utf-8")
    assert "http" not in page.read_text().replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert "人物同防日报" in dom
    assert f"{events:,}" in dom
    assert worst["site_id"] in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, "the screenshot looks blank"
    dark = sum(count for count, colour in colours if sum(colour) < 200)  # type: ignore[arg-type, misc]
    assert dark > 2000, "no text drawn"


def test_a_past_days_report_shows_that_evenings_open_alerts_and_no_rate_for_an_empty_day(seeded):
    """An alert resolved the next day was still open that evening; one raised after the day is not
    the day's; a day with no batches and no shifts has no compliance rate (not 100 %)."""
    day = BASE_TIME.date()
    critical = gather(seeded, "33", day).critical_alerts
    assert critical, "the seeded day has open critical alerts"
    ids = seeded.query(
        "SELECT toString(alert_id) AS id, rule_id FROM alerts WHERE alert_type = 'alert.raised' "
        "AND severity = 'critical' AND alert_id NOT IN "
        "(SELECT alert_id FROM alerts WHERE alert_type = 'alert.resolved') ORDER BY id"
    )
    resolved_next_day, raised = (
        ids[0],
        seeded.query(
            f"SELECT * FROM alerts WHERE toString(alert_id) = '{ids[0]['id']}' AND alert_type = 'alert.raised'"
        )[0],
    )
    next_morning = datetime.combine(day + timedelta(days=1), time(9), SHANGHAI)
    resolution = AlertResolved(
        alert_id=resolved_next_day["id"],
        rule_id=raised["rule_id"],
        catalogue_version=raised["catalogue_version"],
        severity=raised["severity"],
        enterprise_id=raised["enterprise_id"],
        site_id=raised["site_id"],
        division_code=raised["division_code"],
        subject_kind=raised["subject_kind"],
        subject_id=raised["subject_id"],
        at=next_morning,
        evidence=[],
        late=True,
        late_reason="action_after_deadline",
    )
    RowSink(seeded, "alerts", alert_row, None).write([Record("alerts", 0, 0, b"", msgspec.json.encode(resolution), 0)])

    that_evening = gather(seeded, "33", day)
    assert len(that_evening.critical_alerts) == len(critical)  # still open that evening
    headline = dict((title, value) for title, value, _ in that_evening.headlines)["未解除严重预警"]
    assert headline == len(critical)
    next_day = gather(seeded, "33", day + timedelta(days=1))
    assert len(next_day.critical_alerts) == len(critical) - 1  # resolved that morning

    empty = gather(seeded, "33", day - timedelta(days=1))
    rates = {title: value for title, value, unit in empty.headlines if unit == "percentunit"}
    assert rates["消毒合规率"] is None
    assert rates["健康监测合规率"] is None
    assert empty.critical_alerts == []  # nothing was raised yet
    page = render(empty)
    assert "无数据" in page
    assert "100.0%" not in page
