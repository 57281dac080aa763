"""The daily report: figures checked against ClickHouse, rendered by headless Chromium."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image

from dashboards.report import gather, render
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
