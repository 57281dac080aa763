"""Ledger exports over the seeded warehouse: one .xlsx with the five ledgers, Chinese headers, the
header row frozen, rows equal to the warehouse's for the day, scoped to the regulator's jurisdiction;
a month is read a day at a time."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import Console
from services.regulator.divisions import Divisions
from services.regulator.ledgers import LEDGERS, Scope, write_workbook
from tests.factories import BASE_TIME
from tests.support.console import Client, create_regulators, sign_in

pytestmark = pytest.mark.integration
DAY = BASE_TIME.date()
SHEETS = ["进口邮件快件消毒登记", "国内快件消毒登记", "从业人员健康监测", "车辆闭环运行", "预警处置"]


@pytest.fixture
def export(seeded, tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    tokens = create_regulators(registry)

    def run(who: str, query: dict[str, str]) -> tuple[int, Any]:
        async def main() -> tuple[int, Any]:
            console = Console(registry, seeded, Boards.load(), Divisions.load(), clock=lambda: BASE_TIME)
            server = TestServer(create_app(registry, seeded, console=console))
            client: Client
            async with TestClient(server, cookie_jar=CookieJar(unsafe=True)) as client:
                await sign_in(client, tokens[who])
                response = await client.get("/api/ledgers.xlsx", params=query)
                if response.status != 200:
                    return response.status, await response.json()
                assert response.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
                return 200, openpyxl.load_workbook(io.BytesIO(await response.read()), read_only=False)

        return asyncio.run(main())

    return run


def rows_of(sheet: Any) -> list[dict[str, Any]]:
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_a_days_export_has_the_five_ledgers_with_frozen_chinese_headers(export):
    status, book = export("city", {"date": DAY.isoformat()})
    assert status == 200
    assert book.sheetnames == SHEETS
    for ledger in LEDGERS:
        sheet = book[ledger.sheet]
        assert [cell.value for cell in sheet[1]] == [title for title, _ in ledger.columns]
        assert sheet.freeze_panes == "A2"
        assert sheet.column_dimensions["A"].width == pytest.approx(ledger.columns[0][1], abs=1)


def test_the_rows_equal_the_warehouses_for_the_day(export, seeded):
    _, book = export("city", {"date": DAY.isoformat()})
    day = f"toDate(occurred_at) = '{DAY}' AND startsWith(division_code, '3301')"
    imported = seeded.query(
        f"SELECT DISTINCT batch_id FROM parcel_events WHERE event_type = 'parcels.received' AND origin = 'imported' "
        f"AND {day}"
    )
    assert sorted(row["批次/运单号"] for row in rows_of(book["进口邮件快件消毒登记"])) == sorted(
        row["batch_id"] for row in imported
    )
    people = seeded.query(f"SELECT DISTINCT site_id, staff_id FROM staff_health_events WHERE {day}")
    assert sorted((row["网点"], row["人员（化名）"]) for row in rows_of(book["从业人员健康监测"])) == sorted(
        (row["site_id"], row["staff_id"]) for row in people
    )
    alerts = seeded.query(
        "SELECT uniqExact(alert_id) AS n FROM alerts WHERE alert_type = 'alert.raised' "
        f"AND toDate(at) = '{DAY}' AND startsWith(division_code, '3301')"
    )
    assert len(rows_of(book["预警处置"])) == alerts[0]["n"] > 0
    for row in rows_of(book["进口邮件快件消毒登记"]):
        if row["消毒时间"] != "无记录":
            assert row["用时（分钟）"] >= 0


def test_a_district_exports_only_its_own_rows_and_nothing_of_others(export):
    _, book = export("xihu", {"date": DAY.isoformat()})
    sites = {row["网点"] for sheet in SHEETS[:3] for row in rows_of(book[sheet])}
    assert sites
    assert sites <= {"hz-xihu-01"}
    assert export("xihu", {"date": DAY.isoformat(), "site": "hz-intl-01"})[0] == 404
    assert export("xihu", {"date": DAY.isoformat(), "jurisdiction": "3301"})[0] == 403
    status, problem = export("city", {"date": "9999-12-31"})
    assert (status, problem["field"]) == (422, "date")


def test_a_month_is_read_one_day_at_a_time(seeded, tmp_path):
    class Counting:
        def __init__(self) -> None:
            self.queries = 0

        def query(self, sql: str) -> list[dict[str, Any]]:
            self.queries += 1
            rows: list[dict[str, Any]] = seeded.query(sql)
            return rows

    reader = Counting()
    days = [DAY.replace(day=1) + timedelta(days=n) for n in range(30)]
    counts = write_workbook(tmp_path / "month.xlsx", reader, Scope("3301", None), days, 86400)
    assert reader.queries == len(days) * len(LEDGERS)
    book = openpyxl.load_workbook(tmp_path / "month.xlsx", read_only=True)
    assert {name: max(0, book[name].max_row - 1) for name in SHEETS} == counts
    assert counts["预警处置"] > 0
