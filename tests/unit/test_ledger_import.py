"""Importing a site's ledgers (.csv / .xlsx templates): each row's result, content-derived ids, the
error file, and nothing half-imported. The store here is the real intake over a real registry, with
Kafka's acknowledgement played by a function (the stack test posts to Kafka: tests/e2e/test_workbench.py)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import openpyxl
import orjson
import pytest

from schemas import events
from services.ingest import imports
from services.ingest.intake import Outcome, assess
from services.ingest.ledgers import LEDGERS
from services.registry import Enterprise, Registry
from tests import factories

ENT = Enterprise("ent-a", "A 快递")
LEDGER = LEDGERS["imported-parcels"]
ID_NUMBER = "11010519491231002X"  # GB 11643's own example: a valid check character
OPERATOR = "ps_" + "a" * 32
HEADER = [column.header for column in LEDGER.columns]


class Store:
    """intake.assess over a registry; Kafka takes everything (or nothing, when `down`)."""

    def __init__(self, registry: Registry) -> None:
        self.registry, self.down = registry, False
        self.stored: list[events.AnyEvent] = []

    async def __call__(self, raws: list[msgspec.Raw]) -> list[Outcome]:
        intake = assess(raws, ENT, self.registry, set(), max_age=timedelta(days=100_000))
        outcomes = {outcome.index: outcome for outcome in intake.outcomes}
        if self.down:
            for index, _ in intake.accepted:
                outcomes[index] = Outcome(
                    index, "failed", outcomes[index].event_id, "$", "not acknowledged", "unavailable"
                )
        else:
            self.stored += [event for _, event in intake.accepted]
            self.registry.remember_event_ids(ENT.enterprise_id, [event.event_id for _, event in intake.accepted])
        return [outcomes[index] for index in sorted(outcomes)]


@pytest.fixture
def store(tmp_path):
    registry = Registry(tmp_path / "ingest.sqlite")
    registry.create_enterprise("ent-a", "A 快递")
    assess(
        events.split(orjson.dumps([factories.site_registered()])), ENT, registry, set(), max_age=timedelta(days=100_000)
    )
    yield Store(registry)
    registry.close()


def row(**cells: str) -> list[str]:
    values = {
        "网点编号": "site-a1",
        "始发国家/地区": "US",
        "件数": "120",
        "消毒方式": "喷洒",
        "消毒剂": "含氯消毒剂",
        "消毒人员（化名）": OPERATOR,
        **cells,
    }
    return [values.get(header, "") for header in HEADER]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as file:
        csv.writer(file).writerows([HEADER, *rows])
    return path


def run(path: Path, store: Store, fmt: imports.Format = "csv", known: set[str] | None = None) -> imports.ImportSummary:
    async def known_batches(site: str, batches: list[str]) -> set[str]:
        return set(batches) & (known or set())

    folder = path.parent / f"import-{path.stem}"
    summary = imports.ImportSummary("imp_test", LEDGER.name, LEDGER.title, "ent-a", None, 0.0)
    window = events.TimeWindow(datetime.now(UTC), timedelta(days=100_000))
    rows = imports.rows_of(LEDGER, imports.sheet_rows(path, fmt))
    files = imports.ResultFiles(folder, LEDGER)
    return asyncio.run(imports.Importer(LEDGER, "ent-a", store, known_batches, files, summary, window).run(rows))


def results(path: Path) -> list[list[str]]:
    with (path.parent / f"import-{path.stem}" / "results.csv").open(encoding="utf-8-sig") as file:
        return list(csv.reader(file))[1:]


GOOD = row(批次号="B-1", 接收时间="2026-11-23 07:40", 消毒时间="2026-11-23 08:10", 发出时间="2026-11-27 09:00")


def test_each_row_gets_its_result_and_only_good_rows_are_stored(store, tmp_path):
    path = write_csv(
        tmp_path / "ledger.csv",
        [
            GOOD,
            row(批次号="B-2", 接收时间="23/11 7点40"),
            row(批次号="B-9", 消毒时间="2026-11-23 08:10"),  # never received: no receipt in the file or on record
            row(
                批次号="B-3",
                接收时间="2026-11-23 07:40",
                消毒时间="2026-11-23 08:00",
                **{"消毒人员（化名）": ID_NUMBER},
            ),
            GOOD,
            row(批次号="B-1", 消毒时间="2026-11-23 09:00", 件数="10"),  # a second disinfection of B-1, received above
        ],
    )
    summary = run(path, store)
    assert [(r[0], r[1], r[2]) for r in results(path)] == [
        ("2", "已导入", ""),
        ("3", "拒绝", "接收时间"),
        ("4", "拒绝", "批次号"),
        ("5", "拒绝", "消毒人员（化名）"),
        ("6", "重复（已有记录）", ""),
        ("7", "已导入", ""),
    ]
    assert (summary.rows, summary.accepted, summary.duplicate, summary.rejected, summary.failed) == (6, 2, 1, 3, 0)
    assert "无法识别的时间" in summary.problems[0]["reason"]
    assert "未找到批次 B-9" in summary.problems[1]["reason"]
    assert "身份证" in summary.problems[2]["reason"]
    assert [events.event_type(event) for event in store.stored] == [
        "parcels.received",
        "parcels.disinfected",
        "parcels.dispatched",
        "parcels.disinfected",
    ]
    assert {event.site_id for event in store.stored} == {"site-a1"}
    errors = (tmp_path / "import-ledger" / "errors.csv").read_text(encoding="utf-8-sig")
    assert ID_NUMBER not in errors  # the error file does not repeat it
    assert "110" + "*" * 15 in errors


def test_uploading_the_same_file_again_stores_nothing_new(store, tmp_path):
    path = write_csv(tmp_path / "ledger.csv", [GOOD, row(批次号="B-2", 接收时间="2026-11-23 07:50")])
    first = run(path, store)
    stored = len(store.stored)
    again = run(path, store)
    assert (first.accepted, again.accepted, again.duplicate, len(store.stored)) == (2, 0, 2, stored)


def test_a_row_completed_later_adds_only_what_is_new(store, tmp_path):
    run(write_csv(tmp_path / "monday.csv", [row(批次号="B-1", 接收时间="2026-11-23 07:40")]), store)
    later = run(write_csv(tmp_path / "friday.csv", [GOOD]), store)
    assert later.accepted == 1
    assert [events.event_type(event) for event in store.stored] == [
        "parcels.received",
        "parcels.disinfected",
        "parcels.dispatched",
    ]


def test_a_batch_on_record_may_be_disinfected_in_a_row_of_its_own(store, tmp_path):
    path = write_csv(tmp_path / "ledger.csv", [row(批次号="B-7", 消毒时间="2026-11-23 08:10")])
    assert run(path, store, known={"B-7"}).accepted == 1


def test_an_xlsx_ledger_with_time_cells_and_columns_in_any_order_imports(store, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["备注", *reversed(HEADER)])
    values: dict[str, object] = dict(zip(HEADER, row(批次号="B-1"), strict=True))
    values["接收时间"] = datetime(2026, 11, 23, 7, 40)  # a time cell: Beijing time
    sheet.append(["随便写", *(values[header] for header in reversed(HEADER))])
    workbook.save(tmp_path / "ledger.xlsx")
    summary = run(tmp_path / "ledger.xlsx", store, "xlsx")
    assert (summary.accepted, summary.rejected) == (1, 0)
    [received] = store.stored
    assert received.occurred_at == datetime(2026, 11, 22, 23, 40, tzinfo=UTC)
    assert (received.payload.origin, received.payload.origin_country, received.payload.item_count) == (
        "imported",
        "US",
        120,
    )


def test_a_csv_saved_by_excel_in_gb18030_is_read(store, tmp_path):
    path = write_csv(tmp_path / "ledger.csv", [row(批次号="B-1", 接收时间="2026/11/23 07:40")], encoding="gb18030")
    assert run(path, store).accepted == 1


def test_when_kafka_does_not_take_a_chunk_the_import_stops_there_and_says_so(store, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    store.down = True
    path = write_csv(tmp_path / "ledger.csv", [row(批次号=f"B-{n}", 接收时间="2026-11-23 07:40") for n in range(5)])
    summary = run(path, store)
    assert (summary.complete, summary.rows, summary.failed, store.stored) == (False, 2, 2, [])
    assert [r[1] for r in results(path)] == ["未导入（服务暂不可用）"] * 2


def test_a_file_that_is_not_the_ledger_is_refused_whole(store, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("姓名,电话\n张三,1\n", encoding="utf-8")
    with pytest.raises(imports.ImportFileError, match="网点编号"):
        run(path, store)
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(imports.ImportFileError, match="xlsx"):
        run(tmp_path / "broken.xlsx", store, "xlsx")


def test_the_templates_hold_the_ledgers_headers():
    for ledger in LEDGERS.values():
        workbook = openpyxl.load_workbook(io.BytesIO(imports.template_xlsx(ledger)))
        assert [cell.value for cell in workbook.worksheets[0][1]] == [column.header for column in ledger.columns]
        assert workbook.worksheets[1].title == "填写说明"
        text = imports.template_csv(ledger).decode("utf-8")
        assert text.startswith("\ufeff")
        assert text.strip("\ufeff\r\n").split(",") == [c.header for c in ledger.columns]


@pytest.mark.parametrize("ledger", list(LEDGERS.values()), ids=lambda ledger: ledger.name)
def test_the_example_row_in_each_templates_notes_becomes_its_events(ledger):
    from services.ingest.ledgers import Row, build

    example = Row(ledger, 2, {column.key: column.example or None for column in ledger.columns})
    built = build(ledger, example, "ent-a", events.TimeWindow(datetime.now(UTC), timedelta(days=100_000)))
    kinds = [events.event_type(events.decode(raw)) for raw in built]
    expected = {
        "imported-parcels": ["parcels.received", "parcels.disinfected", "parcels.dispatched"],
        "domestic-parcels": ["parcels.received", "parcels.disinfected", "parcels.dispatched"],
        "premises": ["site.disinfected"],
        "staff-health": ["staff.health_checked"],
        "vehicles": ["vehicle.departed"],
    }
    assert kinds == expected[ledger.name]
    assert build(ledger, example, "ent-a", events.TimeWindow(datetime.now(UTC), timedelta(days=100_000))) == built


def test_a_cell_the_schema_refuses_is_named_with_a_reason_in_chinese(store, tmp_path):
    path = write_csv(
        tmp_path / "ledger.csv",
        [
            row(批次号="B-1", 接收时间="2026-11-23 07:40", 到达车辆="浙A12345"),
            row(批次号="B-2", 接收时间="2026-11-23 07:40", 消毒时间="2026-11-23 08:00", **{"消毒人员（化名）": "张三"}),
            row(批次号="B-3", 接收时间="2026-11-23 07:40", 件数="十"),
        ],
    )
    summary = run(path, store)
    assert [(p["column"], p["reason"][:6]) for p in summary.problems] == [
        ("到达车辆", "只能包含字母"),
        ("消毒人员（化名）", "应为员工化名"),
        ("件数", "应为正整数，"),
    ]


def test_a_csv_that_cannot_be_read_is_refused_naming_the_line(store, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("网点编号,批次号\r\nsite-a1," + "B" * 200_000 + "\r\n", encoding="utf-8")  # past csv's field limit
    with pytest.raises(imports.ImportFileError, match="第 2 行"):
        run(path, store)
