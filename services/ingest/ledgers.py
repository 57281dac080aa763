"""The ledgers a site keeps (台账, DOMAIN.md), as import templates: each row becomes one or more events.

A ledger is a list of columns with Chinese headers (what an inspector reads) and a function from a
parsed row to event bodies. Cells are read by header, so the columns may come in any order and
unknown columns are ignored. A cell that cannot be read raises `RowError` naming its header and the
reason in Chinese; the events a row makes are then validated by the same decoder the API uses.

Event ids derive from each event's content (the enterprise, the event type, the site, the time and
the payload), so uploading the same file twice, or a row twice, stores nothing twice; a row edited
to add its dispatch time adds only the dispatch.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import orjson

from schemas import events
from schemas.envelope import IDENTIFIER_PATTERN

SHANGHAI = timezone(timedelta(hours=8))
# Content-derived event ids of imported rows (uuid5 in a namespace of the project's own).
NAMESPACE = uuid.UUID("5f1c6f0e-9d8a-4b3e-8a61-7b2f0c1d9e40")

Cell = str | int | float | datetime | None
Body = dict[str, Any]


class RowError(ValueError):
    """A cell that cannot be read: its column's header and the reason, for the branch to fix."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column, self.reason = column, reason


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    note: str  # 填写说明, in the template's notes sheet
    example: str = ""
    field: str = ""  # the event field it fills (payload.x), to name the column in a validator's error


@dataclass(frozen=True)
class Ledger:
    name: str  # in URLs: /v1/templates/<name>.xlsx, POST /v1/imports?ledger=<name>
    title: str
    columns: tuple[Column, ...]
    events: Callable[[Row], list[Body]]

    def header(self, key: str) -> str:
        return next(column.header for column in self.columns if column.key == key)

    def column_of(self, field: str) -> str:
        """The header of the column that fills an event field (the site's column for the envelope)."""
        for column in self.columns:
            if column.field and (field == column.field or field.startswith(column.field + ".")):
                return column.header
        return self.columns[0].header if field in ("site_id", "$") else field


class Row:
    """One row of a ledger, by column key; readers of its cells raise `RowError` naming the header."""

    def __init__(self, ledger: Ledger, number: int, cells: dict[str, Cell]) -> None:
        self.ledger, self.number, self.cells = ledger, number, cells

    def _raw(self, key: str) -> Cell:
        value = self.cells.get(key)
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def fail(self, key: str, reason: str) -> RowError:
        return RowError(self.ledger.header(key), reason)

    def text(self, key: str, required: bool = False) -> str | None:
        value = self._raw(key)
        if value is None:
            if required:
                raise self.fail(key, "必填")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)

    def required(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def moment(self, key: str, required: bool = False) -> str | None:
        """A time cell as RFC 3339 (+08:00 unless it says otherwise)."""
        value = self._raw(key)
        if value is None:
            if required:
                raise self.fail(key, "必填")
            return None
        parsed = _moment(value)
        if parsed is None:
            raise self.fail(key, f"无法识别的时间“{value}”，请写成 2026-11-23 08:30")
        return parsed.isoformat()

    def count(self, key: str) -> int:
        value = self._raw(key)
        if value is None:
            raise self.fail(key, "必填")
        number = _number(value)
        if number is None or not number.is_integer() or number <= 0:
            raise self.fail(key, f"应为正整数，而不是“{value}”")
        return int(number)

    def decimal(self, key: str, required: bool = False) -> float | None:
        value = self._raw(key)
        if value is None:
            if required:
                raise self.fail(key, "必填")
            return None
        number = _number(value)
        if number is None:
            raise self.fail(key, f"应为数字，而不是“{value}”")
        return number

    def choice(self, key: str, options: dict[str, str], required: bool = True) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return None
        found = options.get(value) or options.get(value.lower())
        if found is None:
            raise self.fail(key, f"应为 {'、'.join(_labels(options))} 之一，而不是“{value}”")
        return found

    def flag(self, key: str, default: bool) -> bool:
        value = self.text(key)
        if value is None:
            return default
        if value.lower() in _YES:
            return True
        if value.lower() in _NO:
            return False
        raise self.fail(key, f"应为“是”或“否”，而不是“{value}”")

    def items(self, key: str, options: dict[str, str]) -> list[str]:
        value = self.text(key)
        if value is None or value in ("无", "none"):
            return []
        found = []
        for part in (part.strip() for part in _LIST_SEPARATOR.split(value)):
            if not part:
                continue
            if part not in options:
                raise self.fail(key, f"“{part}”不是 {'、'.join(_labels(options))} 之一")
            found.append(options[part])
        return found


def event_id(enterprise_id: str, body: Body) -> str:
    """The id an imported event gets: a function of who posts it and what it says."""
    content = orjson.dumps([enterprise_id, body], option=orjson.OPT_SORT_KEYS)
    return str(uuid.uuid5(NAMESPACE, content.decode()))


def build(ledger: Ledger, row: Row, enterprise_id: str, window: events.TimeWindow) -> list[bytes]:
    """The events of a row, validated as the API validates them (the time window too: a row is
    imported whole or not at all) and with their ids; `RowError` for the first cell at fault."""
    site_id = row.required("site")
    built = []
    for body in ledger.events(row):
        time_column = ledger.header(body.pop("time_column", "at"))
        body = {"enterprise_id": enterprise_id, "site_id": site_id, **body}
        body["payload"] = {key: value for key, value in body["payload"].items() if value is not None}
        raw = orjson.dumps({"event_id": event_id(enterprise_id, body), **body})
        try:
            window.check(events.decode(raw))
        except events.InvalidEvent as exc:
            column = time_column if exc.field == "occurred_at" else ledger.column_of(exc.field)
            raise RowError(column, _in_chinese(exc.reason)) from None
        built.append(raw)
    return built


def _in_chinese(reason: str) -> str:
    """The validator's reason, in words a branch reads (the common ones); the rest as it is."""
    if IDENTIFIER_PATTERN in reason:
        return "只能包含字母、数字和 _.:-，以字母或数字开头，最长 64 个字符"
    if "ps_[0-9a-f]{32}" in reason:
        return "应为员工化名：ps_ 加 32 位十六进制字符（tongfang pseudonym 生成）"
    return reason


def personal_cell(row: Row) -> RowError | None:
    """A cell holding a raw ID-card or phone number: never posted, and masked in the error file."""
    for column in row.ledger.columns:
        value = row.cells.get(column.key)
        if value is None:
            continue
        kind = events.personal_number(str(value))
        if kind == "id":
            return RowError(column.header, "像是身份证号：台账中的人员只填化名（ps_…），不得填写身份证号")
        if kind == "mobile":
            return RowError(column.header, "像是手机号：台账中不得填写手机号")
    return None


def masked(value: Cell) -> Cell:
    """A cell as the error file shows it: personal numbers cut to their first three characters."""
    if value is None or events.personal_number(str(value)) is None:
        return value
    text = str(value)
    return text[:3] + "*" * (len(text) - 3)


# Values as branches write them -----------------------------------------------------------------

METHODS = {"喷洒": "spray", "擦拭": "wipe", "紫外线": "uv", "熏蒸": "fumigation"}
AREAS = {"国际业务区": "international", "国内业务区": "domestic", "全场": "whole_site"}
SAMPLED_AREAS = {"国际业务区": "international", "国内业务区": "domestic"}
SAMPLE_RESULTS = {"阴性": "negative", "阳性": "positive", "待出": "pending"}
TEST_RESULTS = {"阴性": "negative", "阳性": "positive"}
HEALTH_CODES = {"绿码": "green", "黄码": "yellow", "红码": "red", "绿": "green", "黄": "yellow", "红": "red"}
SYMPTOMS = {
    "发热": "fever",
    "咳嗽": "cough",
    "咽痛": "sore_throat",
    "乏力": "fatigue",
    "嗅觉减退": "loss_of_smell",
    "呼吸困难": "shortness_of_breath",
}
_YES = {"是", "y", "yes", "true", "1", "完好"}
_NO = {"否", "n", "no", "false", "0", "破损"}
_LIST_SEPARATOR = re.compile(r"[、,，;；/ ]+")
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%dT%H:%M:%S")


def _labels(options: dict[str, str]) -> list[str]:
    """The Chinese spellings of the options (each value once)."""
    seen: dict[str, str] = {}
    for label, value in options.items():
        seen.setdefault(value, label)
    return list(seen.values())


def _with_values(options: dict[str, str]) -> dict[str, str]:
    """The options, also spelled as their English values (what the API takes)."""
    return {**options, **{value: value for value in options.values()}}


def _moment(value: Cell) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    if not isinstance(value, str):
        return None
    text = value.replace("：", ":").strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
        for pattern in _FORMATS:
            try:
                parsed = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if parsed is None or (parsed.time() == time(0) and len(text) <= 10):
        return None  # a date alone is not when it happened
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def _number(value: Cell) -> float | None:
    if isinstance(value, bool | datetime):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


# The five ledgers ------------------------------------------------------------------------------

SITE = Column("site", "网点编号", "网点在系统中的编号（与 site.registered 一致）", "site-hz-001", "site_id")


def _parcel_columns(imported: bool) -> tuple[Column, ...]:
    origin = (
        Column("country", "始发国家/地区", "两位国家代码，如 US、JP、DE", "US", "payload.origin_country")
        if imported
        else Column("outside", "来自市外", "是 / 否（本市内流转的批次不计消毒时限）", "是", "payload.from_outside_city")
    )
    return (
        SITE,
        Column(
            "batch",
            "批次号",
            "批次或总包条码；同一批次多行表示分次接收或分次消毒",
            "BATCH-20261123-01",
            "payload.batch_id",
        ),
        Column("items", "件数", "本行接收（或消毒）的件数，正整数", "120", "payload.item_count"),
        origin,
        Column(
            "vehicle",
            "到达车辆",
            "车辆编号，可空：字母、数字和 -（车牌中的汉字写作拼音缩写，如 V-ZJA12345）",
            "V-ZJA12345",
            "payload.vehicle_id",
        ),
        Column("received", "接收时间", "如 2026-11-23 07:40；空：批次此前已接收", "2026-11-23 07:40"),
        Column("disinfected", "消毒时间", "空：尚未消毒", "2026-11-23 08:10"),
        Column("method", "消毒方式", "喷洒 / 擦拭 / 紫外线 / 熏蒸", "喷洒", "payload.method"),
        Column("agent", "消毒剂", "如 含氯消毒剂 500mg/L", "含氯消毒剂 500mg/L", "payload.agent"),
        Column(
            "operator",
            "消毒人员（化名）",
            "员工化名 ps_…，不填身份证号",
            "ps_0123456789abcdef0123456789abcdef",
            "payload.operator_id",
        ),
        Column("inspector", "核查人员（化名）", "可空", "", "payload.inspector_id"),
        Column("dispatched", "发出时间", "空：尚未发出", "2026-11-27 09:00"),
        Column("destination", "发往网点", "下一站网点编号，可空", "", "payload.destination_site_id"),
    )


def _parcel_events(imported: bool) -> Callable[[Row], list[Body]]:
    def rows_events(row: Row) -> list[Body]:
        batch, items = row.required("batch"), row.count("items")
        received, disinfected, dispatched = row.moment("received"), row.moment("disinfected"), row.moment("dispatched")
        if received is None and disinfected is None and dispatched is None:
            raise row.fail("received", "接收、消毒、发出时间至少填写一项")
        made: list[Body] = []
        if received is not None:
            origin: dict[str, Any] = (
                {"origin": "imported", "origin_country": (row.required("country")).upper()}
                if imported
                else {"origin": "domestic", "from_outside_city": row.flag("outside", True)}
            )
            payload = {"batch_id": batch, "item_count": items, **origin, "vehicle_id": row.text("vehicle")}
            made.append(
                {
                    "event_type": "parcels.received",
                    "occurred_at": received,
                    "payload": payload,
                    "time_column": "received",
                }
            )
        if disinfected is not None:
            payload = {
                "batch_id": batch,
                "item_count": items,
                "method": row.choice("method", _with_values(METHODS)),
                "agent": row.required("agent"),
                "operator_id": row.required("operator"),
                "inspector_id": row.text("inspector"),
            }
            made.append(
                {
                    "event_type": "parcels.disinfected",
                    "occurred_at": disinfected,
                    "payload": payload,
                    "time_column": "disinfected",
                }
            )
        if dispatched is not None:
            payload = {"batch_id": batch, "item_count": items, "destination_site_id": row.text("destination")}
            made.append(
                {
                    "event_type": "parcels.dispatched",
                    "occurred_at": dispatched,
                    "payload": payload,
                    "time_column": "dispatched",
                }
            )
        return made

    return rows_events


def _premises_events(row: Row) -> list[Body]:
    kind = row.choice("kind", {"消杀": "disinfected", "采样": "sampled"})
    at = row.moment("at", required=True)
    if kind == "disinfected":
        payload = {
            "area": row.choice("area", _with_values(AREAS)),
            "method": row.choice("method", _with_values(METHODS)),
            "agent": row.required("agent"),
        }
        return [{"event_type": "site.disinfected", "occurred_at": at, "payload": payload}]
    payload = {
        "area": row.choice("area", _with_values(SAMPLED_AREAS)),
        "result": row.choice("result", _with_values(SAMPLE_RESULTS)),
    }
    return [{"event_type": "site.environment_sampled", "occurred_at": at, "payload": payload}]


STAFF_KINDS = {
    "体温检测": "check",
    "核酸检测": "nucleic_acid",
    "抗原检测": "antigen",
    "疫苗接种": "vaccinated",
    "上岗": "shift",
}


def _staff_events(row: Row) -> list[Body]:
    kind = row.choice("kind", STAFF_KINDS)
    at = row.moment("at", required=True)
    staff = row.required("staff")
    if kind == "check":
        payload: Body = {
            "staff_id": staff,
            "temperature": row.decimal("temperature", required=True),
            "symptoms": row.items("symptoms", _with_values(SYMPTOMS)),
            "health_code": row.choice("code", _with_values(HEALTH_CODES)),
        }
        return [{"event_type": "staff.health_checked", "occurred_at": at, "payload": payload}]
    if kind in ("nucleic_acid", "antigen"):
        payload = {
            "staff_id": staff,
            "test_kind": kind,
            "sampled_at": row.moment("sampled", required=True),
            "result": row.choice("result", _with_values(TEST_RESULTS)),
        }
        return [{"event_type": "staff.tested", "occurred_at": at, "payload": payload}]
    if kind == "vaccinated":
        dose = row.count("dose")
        return [{"event_type": "staff.vaccinated", "occurred_at": at, "payload": {"staff_id": staff, "dose": dose}}]
    return [{"event_type": "staff.shift_started", "occurred_at": at, "payload": {"staff_id": staff}}]


VEHICLE_KINDS = {"发车": "departed", "到达": "arrived", "车辆消毒": "disinfected", "途中停靠": "stopped"}


def _vehicle_events(row: Row) -> list[Body]:
    kind = row.choice("kind", VEHICLE_KINDS)
    at, vehicle = row.moment("at", required=True), row.required("vehicle")
    payload: Body = {"vehicle_id": vehicle}
    if kind == "departed":
        payload |= {
            "route_id": row.required("route"),
            "seal_id": row.required("seal"),
            "driver_id": row.required("driver"),
        }
    elif kind == "arrived":
        payload |= {"route_id": row.text("route"), "seal_id": row.text("seal"), "seal_intact": row.flag("intact", True)}
    elif kind == "disinfected":
        payload |= {"method": row.choice("method", _with_values(METHODS)), "agent": row.required("agent")}
    else:
        payload |= {
            "route_id": row.required("route"),
            "latitude": row.decimal("latitude", required=True),
            "longitude": row.decimal("longitude", required=True),
            "reason": row.text("reason"),
        }
    return [{"event_type": f"vehicle.{kind}", "occurred_at": at, "payload": payload}]


LEDGERS: dict[str, Ledger] = {
    ledger.name: ledger
    for ledger in (
        Ledger("imported-parcels", "进口邮件快件消毒登记", _parcel_columns(True), _parcel_events(True)),
        Ledger("domestic-parcels", "国内快件消毒登记", _parcel_columns(False), _parcel_events(False)),
        Ledger(
            "premises",
            "场所消杀与环境采样",
            (
                SITE,
                Column("kind", "类别", "消杀 / 采样", "消杀"),
                Column("at", "时间", "如 2026-11-23 07:00", "2026-11-23 07:00", "occurred_at"),
                Column("area", "区域", "国际业务区 / 国内业务区 / 全场（采样只分国际、国内）", "全场", "payload.area"),
                Column("method", "消毒方式", "消杀填：喷洒 / 擦拭 / 紫外线 / 熏蒸", "喷洒", "payload.method"),
                Column("agent", "消毒剂", "消杀填", "含氯消毒剂 500mg/L", "payload.agent"),
                Column("result", "采样结果", "采样填：阴性 / 阳性 / 待出", "", "payload.result"),
            ),
            _premises_events,
        ),
        Ledger(
            "staff-health",
            "从业人员健康监测",
            (
                SITE,
                Column(
                    "staff",
                    "人员（化名）",
                    "员工化名 ps_…（tongfang pseudonym 生成），不填姓名、身份证号",
                    "ps_0123456789abcdef0123456789abcdef",
                    "payload.staff_id",
                ),
                Column("kind", "记录类型", "体温检测 / 核酸检测 / 抗原检测 / 疫苗接种 / 上岗", "体温检测"),
                Column("at", "时间", "登记时间，如 2026-11-23 07:30", "2026-11-23 07:30", "occurred_at"),
                Column("temperature", "体温", "体温检测填，如 36.5", "36.5", "payload.temperature"),
                Column(
                    "symptoms",
                    "症状",
                    "无，或 发热、咳嗽、咽痛、乏力、嗅觉减退、呼吸困难（顿号分隔）",
                    "无",
                    "payload.symptoms",
                ),
                Column("code", "健康码", "绿码 / 黄码 / 红码", "绿码", "payload.health_code"),
                Column("sampled", "采样时间", "检测填", "", "payload.sampled_at"),
                Column("result", "检测结果", "检测填：阴性 / 阳性", "", "payload.result"),
                Column("dose", "剂次", "疫苗接种填：1–6", "", "payload.dose"),
            ),
            _staff_events,
        ),
        Ledger(
            "vehicles",
            "车辆闭环运行",
            (
                SITE,
                Column(
                    "vehicle",
                    "车辆",
                    "车辆编号：字母、数字和 -（车牌中的汉字写作拼音缩写，如 V-ZJA12345）",
                    "V-ZJA12345",
                    "payload.vehicle_id",
                ),
                Column("kind", "记录类型", "发车 / 到达 / 车辆消毒 / 途中停靠", "发车"),
                Column("at", "时间", "如 2026-11-23 06:00", "2026-11-23 06:00", "occurred_at"),
                Column("route", "线路", "闭环线路编号（发车、停靠必填）", "R-HZ-01", "payload.route_id"),
                Column("seal", "铅封号", "发车必填", "SEAL-0001", "payload.seal_id"),
                Column("intact", "铅封完好", "到达填：是 / 否", "", "payload.seal_intact"),
                Column(
                    "driver",
                    "驾驶员（化名）",
                    "发车必填：化名 ps_…",
                    "ps_0123456789abcdef0123456789abcdef",
                    "payload.driver_id",
                ),
                Column("method", "消毒方式", "车辆消毒填", "", "payload.method"),
                Column("agent", "消毒剂", "车辆消毒填", "", "payload.agent"),
                Column("latitude", "纬度", "途中停靠填", "", "payload.latitude"),
                Column("longitude", "经度", "途中停靠填", "", "payload.longitude"),
                Column("reason", "停靠原因", "途中停靠填", "", "payload.reason"),
            ),
            _vehicle_events,
        ),
    )
}


def templates_markdown() -> str:
    """The templates' columns, for docs/branches.md (`python -m services.ingest.ledgers`)."""
    lines = []
    for ledger in LEDGERS.values():
        lines += [
            f"### {ledger.title}（`{ledger.name}`）",
            "",
            f"模板：`/v1/templates/{ledger.name}.xlsx`、`/v1/templates/{ledger.name}.csv`",
            "",
            "| 列 | 填写说明 | 示例 |",
            "|---|---|---|",
            *(f"| {column.header} | {column.note} | {column.example} |" for column in ledger.columns),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(templates_markdown(), end="")
