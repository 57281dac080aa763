"""The regulators' console in a real browser (Debian's chromium through Playwright) over the seeded
warehouse: every dashboard draws every panel with data, for two time ranges and two variable choices;
the figures shown equal the same SQL run directly; the jurisdiction holds whatever the URL says."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Browser, Page

from dashboards.macros import ALL, expand
from dashboards.timerange import parse_range
from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import Console
from services.regulator.divisions import Divisions
from services.regulator.ledgers import LEDGERS
from tests.factories import BASE_TIME
from tests.support.browser import ARTIFACTS, launched, served
from tests.support.console import create_regulators

pytestmark = [pytest.mark.integration, pytest.mark.browser]
NOW = BASE_TIME + timedelta(hours=12)
BOARDS = [board.uid for board in Boards.load()]


@pytest.fixture(scope="module")
def console(seeded, tmp_path_factory) -> Iterator[dict[str, Any]]:
    registry = Registry(tmp_path_factory.mktemp("console") / "registry.sqlite")
    tokens = create_regulators(registry)
    console = Console(registry, seeded, Boards.load(), Divisions.load(), clock=lambda: NOW)
    with served(create_app(registry, seeded, console=console)) as url:
        yield {"url": url, "tokens": tokens, "registry": registry}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


def signed_in(browser: Browser, console: dict[str, Any], who: str) -> Page:
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="zh-CN", timezone_id="Asia/Shanghai")
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(f"{console['url']}/d/tongfang-overview")
    assert "/login" in page.url
    page.fill("#token", console["tokens"][who])
    page.click("button[type=submit]")
    page.wait_for_url("**/d/tongfang-overview**")
    return page


def open_board(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", state="attached", timeout=30_000)


def panel_states(page: Page) -> dict[str, str]:
    states: dict[str, str] = page.eval_on_selector_all(
        ".panel", "nodes => Object.fromEntries(nodes.map(n => [n.querySelector('h2').textContent, n.dataset.state]))"
    )
    return states


@pytest.mark.parametrize("uid", BOARDS)
@pytest.mark.parametrize(
    ("span", "variables"),
    [(("now-24h", "now"), "var-brand=All"), (("now-7d", "now"), "var-jurisdiction=330109&var-brand=yt")],
    ids=["24h-all", "7d-xiaoshan-yt"],
)
def test_every_panel_draws_with_data(browser, console, uid, span, variables):
    page = signed_in(browser, console, "city")
    site = "&var-site=hz-intl-01"  # the seeded international site: in Xiaoshan, brand yt
    open_board(page, f"{console['url']}/d/{uid}?from={span[0]}&to={span[1]}&{variables}{site}")
    states = panel_states(page)
    assert states, "no panels drawn"
    assert set(states.values()) == {"ok"}, states
    assert page.errors == []  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{uid}-{span[0].replace('/', '_')}.png"), full_page=True)
    page.close()


@pytest.mark.parametrize(
    ("uid", "title"),
    [
        ("tongfang-overview", "事件总数"),
        ("tongfang-overview", "未解除严重预警"),
        ("tongfang-staff-health", "未测温即上岗"),
    ],
)
def test_stat_figures_equal_the_same_sql_run_directly(browser, console, seeded, uid, title):
    page = signed_in(browser, console, "city")
    open_board(page, f"{console['url']}/d/{uid}?from=now-7d&to=now&var-jurisdiction=3301")
    shown = page.get_attribute(f".panel:has(h2:text-is('{title}')) .stat-value", "data-raw")
    board = Boards.load().get(uid)
    assert board is not None
    (panel,) = [p for p in board.document["panels"] if p["title"] == title]
    span = parse_range("now-7d", "now", NOW)
    sql = expand(
        panel["targets"][0]["rawSql"], span.since, span.until, {"jurisdiction": "3301", "brand": ALL, "site": ALL}
    )
    expected = next(iter(seeded.query(sql)[-1].values()))
    assert shown is not None
    assert float(shown) == pytest.approx(float(expected))
    page.close()


def test_ledgers_download_in_one_click_and_the_unreported_sites_are_listed(browser, console):
    page = signed_in(browser, console, "city")
    open_board(page, f"{console['url']}/reports")
    next_day = (NOW + timedelta(days=1)).date().isoformat()
    page.fill("#unreported-day", next_day)
    page.dispatch_event("#unreported-day", "change")
    page.wait_for_selector("#unreported-table button[data-site='hz-intl-01']")
    assert "健康监测、邮件台账" in page.inner_text("#unreported-table")
    page.fill("#export-day", NOW.date().isoformat())
    page.dispatch_event("#export-day", "change")
    with page.expect_download() as download:
        page.click("#export-link")
    assert download.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))
    assert book.sheetnames == [ledger.sheet for ledger in LEDGERS]
    assert book["预警处置"].max_row > 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-reports.png"), full_page=True)
    page.close()


def test_the_desk_shows_an_alert_with_its_evidence(browser, console, seeded):
    alert = seeded.query(
        "SELECT toString(alert_id) AS id FROM alerts WHERE alert_type = 'alert.raised' AND length(evidence) > 0 "
        "AND rule_id = 'DIS-BEFORE-DISPATCH' LIMIT 1"
    )[0]["id"]
    page = signed_in(browser, console, "city")
    open_board(page, f"{console['url']}/desk?alert={alert}")
    page.wait_for_selector("#detail h2")
    assert "未消毒即分发" in page.inner_text("#detail h2")
    assert page.locator("#detail table tbody tr.event").count() == 2  # the receipt and the dispatch
    assert "batch_id: " in page.inner_text("#detail table tbody tr.payload >> nth=0")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-desk.png"), full_page=True)
    page.close()


def test_the_site_page_shows_pending_batches_alerts_and_its_timeline(browser, console):
    page = signed_in(browser, console, "city")
    open_board(page, f"{console['url']}/sites/hz-intl-01")
    assert "萧山区" in page.inner_text("#facts")
    assert "已超时" in page.inner_text("#pending tbody tr.overdue")  # I-2, due 10:00, twelve hours on
    assert page.locator("#alerts tbody tr").count() > 1
    page.select_option("#span", "now-30d")
    page.wait_for_selector("#timeline tbody tr code")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-site.png"), full_page=True)
    page.close()
