"""Ledgers out (台账导出): the ledgers inspectors ask a site for, as one .xlsx, for a site or a whole
jurisdiction and a day or a month.

One sheet per ledger, Chinese headers, times in Asia/Shanghai, the header row frozen and filtered,
column widths set. The workbook is written with XlsxWriter's constant_memory mode (each row goes to
disk as it is written) from one query per ledger and day, so a month of a city is never held whole:
memory is bounded by the largest day of one ledger.

GET /api/ledgers.xlsx?date=YYYY-MM-DD | month=YYYY-MM [&site=<site_id> | &jurisdiction=<code>]
"""

from __future__ import annotations

import asyncio
import calendar
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import xlsxwriter
from aiohttp import web

from dashboards.report import report_day
from services.problems import Problem
from services.regulator.console import DIVISION_PREFIX, SITE_ID, Console
from services.regulator.desk import desk_states
from streams.warehouse import Reader, literal

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# How far after a batch's receipt its disinfection and dispatch are looked for (the rest period is 4 days).
BATCH_HORIZON_DAYS = 10
CODE_ZH = "transform(health_code, ['green', 'yellow', 'red'], ['绿码', '黄码', '红码'], health_code)"
RESULT_ZH = "transform(result, ['negative', 'positive', 'pending'], ['阴性', '阳性', '待出'], result)"
KIND_ZH = "transform(test_kind, ['nucleic_acid', 'antigen'], ['核酸', '抗原'], test_kind)"
SEVERITY_ZH = "transform(severity, ['critical', 'major', 'minor'], ['严重', '重要', '一般'], severity)"
LATE_ZH = (
    "transform(v.late_reason, ['record_after_deadline', 'action_after_deadline'], ['记录补录', '逾期处置'], "
    "v.late_reason)"
)
DESK_ZH = "transform(desk_state, ['acknowledged', 'assigned', 'closed'], ['已确认', '已督办', '已办结'], '待处置')"


@dataclass(frozen=True)
class Scope:
    """Whose rows: a division-code prefix, and perhaps one site of it."""

    division: str
    site: str | None

    def where(self, table: str = "") -> str:
        prefix = f"{table}." if table else ""
        condition = f"startsWith({prefix}division_code, {literal(self.division)})"
        return condition + (f" AND {prefix}site_id = {literal(self.site)}" if self.site else "")


@dataclass(frozen=True)
class Ledger:
    sheet: str
    columns: tuple[tuple[str, int], ...]  # header, width in characters
    sql: Callable[[Scope, date, float], str]  # the day's rows, in the columns' order


def day_start(day: date) -> str:
    """The first instant of a local (Shanghai) day, as SQL."""
    return f"toDateTime64('{day:%Y-%m-%d} 00:00:00', 3, 'Asia/Shanghai')"


def _on(column: str, day: date, days: int = 1) -> str:
    """`column` falls on `day` (or in the `days` from its start), Shanghai time."""
    return f"{column} >= {day_start(day)} AND {column} < {day_start(day + timedelta(days=days))}"


def _time(column: str, pattern: str = "%Y-%m-%d %H:%i") -> str:
    """A time as text, '' for none (NULL, or the zero a LEFT JOIN gives a row with no match)."""
    return f"if(isNull({column}) OR toYear({column}) < 2000, '', formatDateTime({column}, '{pattern}'))"


# Aliases differ from every column name: ClickHouse resolves a name to the SELECT's alias first.
def _parcels(origin: str) -> Callable[[Scope, date, float], str]:
    def sql(scope: Scope, day: date, late_s: float) -> str:
        first = "minIf(occurred_at, event_type = 'parcels.received')"
        disinfected = "minIf(occurred_at, event_type = 'parcels.disinfected')"
        dispatched = "minIf(occurred_at, event_type = 'parcels.dispatched')"
        received_today = (
            "SELECT site_id, batch_id FROM parcel_events WHERE event_type = 'parcels.received' "
            f"AND {scope.where()} AND {_on('occurred_at', day)}"
        )
        origin_filter = "= 'imported'" if origin == "imported" else "!= 'imported'"
        return (
            f"SELECT '{day:%Y-%m-%d}' AS d, p.site_id, any(s.name) AS site_name, batch_id, "
            "anyIf(origin_country, event_type = 'parcels.received') AS country, "
            "sumIf(item_count, event_type = 'parcels.received') AS received_items, "
            "anyIf(vehicle_id, event_type = 'parcels.received') AS vehicle, "
            f"{_time(first)} AS arrived_time, "
            f"if(countIf(event_type = 'parcels.disinfected') = 0, '无记录', {_time(disinfected)}) AS disinfected_time, "
            "sumIf(item_count, event_type = 'parcels.disinfected') AS disinfected_items, "
            "argMinIf(method, occurred_at, event_type = 'parcels.disinfected') AS method_used, "
            "argMinIf(agent, occurred_at, event_type = 'parcels.disinfected') AS agent_used, "
            "argMinIf(operator_id, occurred_at, event_type = 'parcels.disinfected') AS operator_used, "
            f"if(countIf(event_type = 'parcels.disinfected') = 0, NULL, dateDiff('minute', {first}, {disinfected})) "
            "AS minutes, "
            f"if(max(dateDiff('second', occurred_at, received_at)) > {int(late_s)}, '是', '否') AS late, "
            f"{_time(dispatched)} AS dispatched_time "
            "FROM parcel_events AS p "
            "LEFT JOIN (SELECT site_id, argMax(name, registered_at) AS name FROM sites "
            f"WHERE {scope.where()} GROUP BY site_id) AS s ON s.site_id = p.site_id "
            f"WHERE {scope.where('p')} AND (p.site_id, batch_id) IN ({received_today}) "
            f"AND {_on('occurred_at', day, BATCH_HORIZON_DAYS)} "
            f"GROUP BY p.site_id, batch_id HAVING anyIf(origin, event_type = 'parcels.received') {origin_filter} "
            f"AND toDate({first}) = '{day:%Y-%m-%d}' ORDER BY p.site_id, {first}, batch_id"
        )

    return sql


def _health(scope: Scope, day: date, late_s: float) -> str:
    checked = "event_type = 'staff.health_checked'"
    return (
        f"SELECT '{day:%Y-%m-%d}' AS d, site_id, staff_id, "
        f"{_time(f'minIf(occurred_at, {checked})', '%H:%i')} AS check_time, "
        f"maxIf(temperature, {checked}) AS max_temperature, "
        f"arrayStringConcat(arrayDistinct(arrayFlatten(groupArrayIf(symptoms, {checked}))), '、') AS symptom_list, "
        f"argMaxIf({CODE_ZH}, occurred_at, {checked}) AS code, "
        "if(countIf(event_type = 'staff.shift_started') > 0, '是', '否') AS on_duty, "
        f"arrayStringConcat(groupArrayIf(concat({KIND_ZH}, ' ', {RESULT_ZH}), event_type = 'staff.tested'), '；') "
        "AS tests, "
        "maxIf(dose, event_type = 'staff.vaccinated') AS doses, "
        f"if(max(dateDiff('second', occurred_at, received_at)) > {int(late_s)}, '是', '否') AS late "
        f"FROM staff_health_events WHERE {scope.where()} AND {_on('occurred_at', day)} "
        "GROUP BY site_id, staff_id ORDER BY site_id, staff_id"
    )


def _vehicles(scope: Scope, day: date, late_s: float) -> str:
    departed = "event_type = 'vehicle.departed'"
    arrivals = (
        "arrayStringConcat(arrayMap(x -> concat(x.1, ' ', formatDateTime(x.2, '%H:%i'), "
        "if(x.3, '', '（封签异常）')), arraySort(x -> x.2, groupArrayIf((site_id, occurred_at, "
        "ifNull(seal_intact, true)), event_type = 'vehicle.arrived'))), '；')"
    )
    return (
        f"SELECT '{day:%Y-%m-%d}' AS d, vehicle_id, route_id, argMinIf(driver_id, occurred_at, {departed}) AS driver, "
        f"argMinIf(site_id, occurred_at, {departed}) AS origin_site, "
        f"{_time(f'minIf(occurred_at, {departed})', '%H:%i')} AS departed_at, "
        f"argMinIf(seal_id, occurred_at, {departed}) AS seal, {arrivals} AS arrivals, "
        "countIf(event_type = 'vehicle.stopped') AS stops, "
        "countIf(event_type = 'vehicle.disinfected') AS disinfections, "
        f"if(max(dateDiff('second', occurred_at, received_at)) > {int(late_s)}, '是', '否') AS late "
        f"FROM vehicle_events WHERE {scope.where()} AND {_on('occurred_at', day)} "
        "GROUP BY vehicle_id, route_id ORDER BY vehicle_id, route_id"
    )


def _alerts(scope: Scope, day: date, late_s: float) -> str:
    resolved = (
        "SELECT alert_id, min(at) AS resolved_at, any(late_reason) AS late_reason FROM alerts "
        f"WHERE alert_type = 'alert.resolved' AND {scope.where()} GROUP BY alert_id"
    )
    return (
        f"SELECT {_time('r.at')} AS raised_at, {SEVERITY_ZH} AS severity_zh, title_zh, r.site_id AS site, "
        f"r.enterprise_id AS enterprise, subject_id, {_time('deadline')} AS deadline_at, "
        f"if({_time('v.resolved_at')} = '', '未解除', {_time('v.resolved_at')}) AS resolved, {LATE_ZH} AS late_zh, "
        f"{DESK_ZH} AS desk, d.regulator_id AS regulator, d.assignee AS assignee, {_time('d.due')} AS due_at, "
        "d.note AS note "
        f"FROM (SELECT * FROM alerts WHERE alert_type = 'alert.raised' AND {scope.where()} "
        f"AND {_on('at', day)} "
        "ORDER BY at LIMIT 1 BY alert_id) AS r "
        f"LEFT JOIN ({resolved}) AS v ON v.alert_id = r.alert_id "
        f"LEFT JOIN ({desk_states(scope.where())}) AS d ON d.alert_id = r.alert_id ORDER BY r.at, r.alert_id"
    )


def _columns(spec: str) -> tuple[tuple[str, int], ...]:
    """ "日期:11 网点:20": each header with its width in characters."""
    return tuple((title, int(width)) for title, width in (item.rsplit(":", 1) for item in spec.split()))


_PARCEL_COLUMNS = _columns(
    "日期:11 网点:20 网点名称:20 批次/运单号:18 来源国家:9 到达件数:9 到达车辆/班次:14 到达时间:17 "
    "消毒时间:17 消毒件数:9 消毒方式:10 消毒剂:12 操作人员（化名）:38 用时（分钟）:11 补录:6 分发时间:17"
)
LEDGERS = (
    Ledger("进口邮件快件消毒登记", _PARCEL_COLUMNS, _parcels("imported")),
    Ledger("国内快件消毒登记", _PARCEL_COLUMNS, _parcels("domestic")),
    Ledger(
        "从业人员健康监测",
        _columns(
            "日期:11 网点:20 人员（化名）:38 测温时间:9 体温（℃）:9 症状:14 健康码:8 当日上岗:8 "
            "检测（类型·结果）:20 疫苗剂次:8 补录:6"
        ),
        _health,
    ),
    Ledger(
        "车辆闭环运行",
        _columns(
            "日期:11 车辆:14 线路:12 驾驶员（化名）:38 发车网点:20 发车时间:9 封签号:14 "
            "到达（网点·时间）:40 途中停车:8 车辆消毒:8 补录:6"
        ),
        _vehicles,
    ),
    Ledger(
        "预警处置",
        _columns(
            "发现时间:17 级别:6 预警:24 网点:20 企业:14 对象:30 时限:17 规则解除:17 逾期/补录:10 "
            "处置状态:9 处置人:14 督办企业:14 督办期限:17 处置说明:30"
        ),
        _alerts,
    ),
)


def days_of(text_date: str | None, text_month: str | None) -> list[date]:
    """The days a ledger covers: one date, or every day of a month."""
    if text_month:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text_month)
        if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2100:
            raise Problem(422, "month", "expected YYYY-MM")
        year, month = int(match[1]), int(match[2])
        return [date(year, month, day) for day in range(1, calendar.monthrange(year, month)[1] + 1)]
    if not text_date:
        raise Problem(422, "date", "give date=YYYY-MM-DD or month=YYYY-MM")
    return [parse_day(text_date)]


def parse_day(text: str) -> date:
    """A `date=YYYY-MM-DD` parameter, between 2000 and 2100 (422 naming `date` otherwise)."""
    try:
        return report_day(text)
    except ValueError as exc:
        raise Problem(422, "date", str(exc)) from None


def rows(reader: Reader, scope: Scope, days: list[date], ledger: Ledger, late_s: float) -> Iterator[list[Any]]:
    """The ledger's rows, one day's query at a time."""
    for day in days:
        for row in reader.query(ledger.sql(scope, day, late_s)):
            yield list(row.values())


def write_workbook(path: Path, reader: Reader, scope: Scope, days: list[date], late_s: float) -> dict[str, int]:
    """Write every ledger to `path`; the number of rows per sheet."""
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    header = workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True})
    counts: dict[str, int] = {}
    try:
        for ledger in LEDGERS:
            sheet = workbook.add_worksheet(ledger.sheet)
            for index, (title, width) in enumerate(ledger.columns):
                sheet.set_column(index, index, width)
                sheet.write_string(0, index, title, header)
            sheet.freeze_panes(1, 0)
            written = 0
            for written, values in enumerate(rows(reader, scope, days, ledger, late_s), start=1):
                for column, value in enumerate(values):
                    _write(sheet, written, column, value)
            sheet.autofilter(0, 0, max(written, 1), len(ledger.columns) - 1)
            counts[ledger.sheet] = written
    finally:
        workbook.close()
    return counts


def _write(sheet: Any, row: int, column: int, value: Any) -> None:
    if value is None:
        sheet.write_blank(row, column, None)
    elif isinstance(value, bool):
        sheet.write_string(row, column, "是" if value else "否")
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value)
    else:
        sheet.write_string(row, column, str(value))


class Ledgers:
    def __init__(self, console: Console, late_after: timedelta) -> None:
        self.console, self.late_after_s = console, late_after.total_seconds()

    async def export(self, request: web.Request) -> web.StreamResponse:
        session = self.console.signed_in(request)
        own = session.regulator.jurisdiction
        days = days_of(request.query.get("date"), request.query.get("month"))
        site = request.query.get("site") or None
        division = request.query.get("jurisdiction") or own
        if not DIVISION_PREFIX.match(division):
            raise Problem(422, "jurisdiction", "expected a division code of 2 to 9 digits")
        if not division.startswith(own):
            raise Problem(403, "jurisdiction", "outside your jurisdiction")
        if site is not None:
            if not SITE_ID.match(site):
                raise Problem(422, "site", "letters, digits and _.:- only; 1 to 64 characters")
            if await self.console.site(own, site) is None:
                raise Problem(404, "site", "no such site in your jurisdiction")
        scope = Scope(own if site else division, site)
        path = await asyncio.to_thread(_temporary_xlsx)
        try:
            await asyncio.to_thread(write_workbook, path, self.console.reader, scope, days, self.late_after_s)
            period = request.query.get("month") or request.query.get("date")
            filename = f"人物同防台账-{site or self.console.divisions.label(division)}-{period}.xlsx"
            response = web.StreamResponse(
                headers={
                    "Content-Type": XLSX,
                    "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
                    "Cache-Control": "no-store",
                    "X-Content-Type-Options": "nosniff",
                }
            )
            response.content_length = await asyncio.to_thread(os.path.getsize, path)
            await response.prepare(request)
            handle = await asyncio.to_thread(path.open, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, 256 * 1024):
                    await response.write(chunk)
            finally:
                handle.close()
            await response.write_eof()
            return response
        finally:
            await asyncio.to_thread(path.unlink, True)


def _temporary_xlsx() -> Path:
    handle, name = tempfile.mkstemp(prefix="tongfang-ledger-", suffix=".xlsx")
    os.close(handle)
    return Path(name)


def add_routes(app: web.Application, ledgers: Ledgers) -> None:
    app.router.add_get("/api/ledgers.xlsx", ledgers.export)
