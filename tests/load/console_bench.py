"""`make bench`'s console stage: the regulators' console in a real browser over a generated city.

`rows` events (30 days, 2 000 sites: `bench.generate`) in a chDB of their own, the regulator service
in this process over it, reading on as many read-only connections as the worker answers on
(`worker_read_connections`, a panel waits for one when a dashboard asks for all at once), and
Debian's chromium through Playwright signed in as the city's regulator.
Each dashboard is opened at its default range (the last 24 h) three times; for every open:
  - the page: navigation to every panel drawn (`body[data-loaded]`), cold (the first open of the
    run, the browser's cache empty) and warm;
  - each panel's request as the browser saw it (Resource Timing: request sent to last byte), and
    beside it the same expanded SQL run directly on the warehouse (the ceiling the console's HTTP,
    session check, JSON and drawing add to).
"""

from __future__ import annotations

import shutil
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dashboards.macros import ALL, expand
from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import Console
from services.regulator.divisions import Divisions
from streams.settings import Settings
from streams.warehouse import ChdbWarehouse, ReadPool, migrate
from tests.load.bench import START, generate, settle
from tests.support.browser import chromium_path, served
from tests.support.measure import nearest_rank

OPENS = 3
PANEL_REQUESTS = "performance.getEntriesByType('resource').filter(e => e.name.includes('/panels/'))"


def console_figures(directory: Path, rows: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    warehouse = ChdbWarehouse(directory / "chdb")
    migrate(warehouse)
    generate(warehouse, rows)
    settle(warehouse)
    now = START + timedelta(days=30)
    registry = Registry(directory / "registry.sqlite")
    token = registry.create_regulator("bench-3301", "杭州市邮政管理局", "3301")
    boards = Boards.load()
    reads = ReadPool(
        [ChdbWarehouse(warehouse.path, read_only=True) for _ in range(max(1, Settings().worker_read_connections))]
    )
    console = Console(registry, reads, boards, Divisions.load(), clock=lambda: now)
    pages: dict[str, list[float]] = {}
    browser_ms: list[float] = []
    try:
        with served(create_app(registry, reads, console=console)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
            page.goto(f"{url}/login")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/**")
            for _ in range(OPENS):
                for board in boards:
                    began = time.perf_counter()
                    page.goto(f"{url}/d/{board.uid}")
                    page.wait_for_selector("body[data-loaded]", state="attached", timeout=120_000)
                    pages.setdefault(board.uid, []).append((time.perf_counter() - began) * 1000)
                    browser_ms += page.evaluate(f"{PANEL_REQUESTS}.map(e => e.responseEnd - e.requestStart)")
            browser.close()
        direct_ms = direct_queries(warehouse, boards, now)
    finally:
        registry.close()
        warehouse.close()
        shutil.rmtree(directory, ignore_errors=True)
    browser_ms.sort()
    loads = sorted(ms for opens in pages.values() for ms in opens[1:])
    return {
        "rows": rows,
        "panels": len(direct_ms) // OPENS,
        "panel_ms_p50": round(statistics.median(browser_ms), 1),
        "panel_ms_p95": round(nearest_rank(browser_ms, 0.95), 1),
        "direct_ms_p50": round(statistics.median(direct_ms), 1),
        "direct_ms_p95": round(nearest_rank(direct_ms, 0.95), 1),
        "page_cold_ms": round(next(iter(pages.values()))[0]),
        "page_warm_ms_p50": round(statistics.median(loads)),
        "page_warm_ms_max": round(loads[-1]),
        "pages": {uid: [round(ms) for ms in opens] for uid, opens in pages.items()},
    }


def direct_queries(warehouse: ChdbWarehouse, boards: Boards, now: datetime) -> list[float]:
    """Each panel's SQL as the console expands it for the same regulator and range, run directly."""
    samples = []
    for board in boards:
        site = {"site": first_site(warehouse)} if board.uid == "tongfang-site" else {}
        variables = {name: ALL for name in board.variables} | {"jurisdiction": "3301"} | site
        for panel_id in board.panels:
            sql, _ = board.panel_sql(panel_id) or ("", {})
            expanded = expand(sql, now - timedelta(days=1), now, variables, 300)
            for _ in range(OPENS):
                began = time.perf_counter()
                warehouse.query(expanded)
                samples.append((time.perf_counter() - began) * 1000)
    return sorted(samples)


def first_site(warehouse: ChdbWarehouse) -> str:
    return str(warehouse.query("SELECT min(site_id) AS s FROM sites WHERE startsWith(division_code, '3301')")[0]["s"])
