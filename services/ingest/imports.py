"""Importing a ledger file (.xlsx or .csv, services/ingest/ledgers.py): each row becomes events with a
result of its own, and nothing is half-imported silently.

The upload is streamed to a file first (so its size is bounded by disk, not memory), then read row
by row (openpyxl's read-only mode, the csv module) in chunks of `CHUNK_ROWS`. A chunk's rows are
built into events and validated (a row with any cell at fault is rejected whole, nothing of it
posted), then posted together through the same intake as POST /v1/events, as history
(`backfill`, docs/late-records.md): a row is accepted when all its events are stored (now or
before), a duplicate when all were stored before. If Kafka does not take a chunk, the import stops
there: that chunk's rows are reported failed and the rows after it not read, and uploading the same
file again stores only what is missing (the ids derive from the rows' content).

Every row's result goes to `results.csv`, the rows not stored (with the column at fault and the
reason) to `errors.csv`, beside a `summary.json`, under <data_dir>/imports/<import_id>/.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import msgspec
import orjson

from schemas import events
from services.ingest.intake import Outcome
from services.ingest.ledgers import Cell, Ledger, Row, RowError, build, masked, personal_cell

CHUNK_ROWS = 500
PROBLEMS_SHOWN = 200  # rows not stored listed in the answer itself; all of them are in errors.csv
Format = Literal["xlsx", "csv"]
Status = Literal["accepted", "duplicate", "rejected", "failed"]
STATUS_ZH = {
    "accepted": "已导入",
    "duplicate": "重复（已有记录）",
    "rejected": "拒绝",
    "failed": "未导入（服务暂不可用）",
}
# What a site knows of its batches before this file: received before, on record in the warehouse.
KnownBatches = Callable[[str, list[str]], Awaitable[set[str]]]
Store = Callable[[list[msgspec.Raw]], Awaitable[list[Outcome]]]


class ImportFileError(ValueError):
    """The file as a whole cannot be read as the ledger (not a workbook, no header row, a missing column)."""


@dataclass
class RowResult:
    row: int
    status: Status
    column: str = ""
    reason: str = ""
    events: int = 0


@dataclass
class ImportSummary:
    import_id: str
    ledger: str
    title: str
    enterprise_id: str
    operator_id: str | None
    started_at: float
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed: int = 0
    events: int = 0
    complete: bool = True  # every row read and given a result (False: stopped at a failed chunk)
    seconds: float = 0.0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def count(self, result: RowResult) -> None:
        self.rows += 1
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.status in ("accepted", "duplicate"):
            self.events += result.events
        elif len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(asdict(result))


def sheet_rows(path: Path, fmt: Format) -> Iterator[list[Cell]]:
    """The file's rows as lists of cells, read as a stream."""
    if fmt == "csv":
        yield from _csv_rows(path)
        return
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError or its own errors for a non-workbook
        raise ImportFileError(f"不是可读取的 .xlsx 工作簿：{type(exc).__name__}") from None
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        workbook.close()


def _csv_rows(path: Path) -> Iterator[list[Cell]]:
    encoding = _csv_encoding(path)
    with path.open(encoding=encoding, errors="replace", newline="") as text:
        reader = csv.reader(text)
        try:
            yield from reader
        except csv.Error as exc:
            raise ImportFileError(f"第 {reader.line_num} 行不是可读取的 CSV：{exc}") from None


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without a BOM), else GB 18030 (what Excel on a Chinese Windows saves)."""
    with path.open("rb") as raw:
        head = raw.read(1 << 16)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


def rows_of(ledger: Ledger, cells: Iterator[list[Cell]]) -> Iterator[Row]:
    """The ledger's rows, by header: the first non-blank row is the header; blank rows are skipped."""
    keys: list[str | None] | None = None
    by_header = {column.header: column.key for column in ledger.columns}
    for number, values in enumerate(cells, start=1):
        if all(value is None or str(value).strip() == "" for value in values):
            continue
        if keys is None:
            headers = [str(value).strip() if value is not None else "" for value in values]
            keys = [by_header.get(header) for header in headers]
            missing = [column.header for column in ledger.columns if column.key == "site" and "site" not in keys]
            if missing or not any(keys):
                raise ImportFileError(
                    f"第 {number} 行不是《{ledger.title}》的表头：缺少“{ledger.columns[0].header}”等列"
                )
            continue
        yield Row(ledger, number, {key: value for key, value in zip(keys, values, strict=False) if key is not None})


class ResultFiles:
    """results.csv (every row) and errors.csv (rows not stored, their cells masked), UTF-8 with a BOM
    so that Excel opens them in Chinese."""

    def __init__(self, folder: Path, ledger: Ledger) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.ledger = folder, ledger
        self._results = (folder / "results.csv").open("w", encoding="utf-8-sig", newline="")
        self._errors = (folder / "errors.csv").open("w", encoding="utf-8-sig", newline="")
        self.results, self.errors = csv.writer(self._results), csv.writer(self._errors)
        self.results.writerow(["行号", "结果", "出错列", "原因", "事件数"])
        self.errors.writerow(["行号", "出错列", "原因", *(column.header for column in ledger.columns)])

    def write(self, row: Row | None, result: RowResult) -> None:
        status = STATUS_ZH[result.status]
        self.results.writerow([result.row, status, result.column, result.reason, result.events])
        if result.status in ("rejected", "failed") and row is not None:
            cells = [_cell_text(masked(row.cells.get(column.key))) for column in self.ledger.columns]
            self.errors.writerow([result.row, result.column, result.reason, *cells])

    def close(self) -> None:
        self._results.close()
        self._errors.close()


@dataclass
class Importer:
    """One import: where its rows' events go (`store`), what it knows of batches, where results go."""

    ledger: Ledger
    enterprise_id: str
    store: Store
    known_batches: KnownBatches
    files: ResultFiles
    summary: ImportSummary
    window: events.TimeWindow
    received: dict[str, set[str]] = field(default_factory=dict)  # site -> batches received in this file so far

    async def run(self, rows: Iterator[Row]) -> ImportSummary:
        """Import `rows` chunk by chunk; the summary, every row's result written to `files`."""
        started = time.perf_counter()
        try:
            while chunk := await asyncio.to_thread(_take, rows, CHUNK_ROWS):
                if not await self._chunk(chunk):
                    self.summary.complete = False
                    break
        finally:
            self.files.close()
            self.summary.seconds = round(time.perf_counter() - started, 3)
        return self.summary

    async def _chunk(self, chunk: list[Row]) -> bool:
        """One chunk: its rows' results written; False when Kafka did not take it (the import stops)."""
        built: dict[int, list[bytes]] = {}
        results: dict[int, RowResult] = {}
        for position, row in enumerate(chunk):
            problem = personal_cell(row)
            try:
                if problem is not None:
                    raise problem
                built[position] = build(self.ledger, row, self.enterprise_id, self.window)
            except RowError as exc:
                results[position] = RowResult(row.number, "rejected", exc.column, exc.reason)
        await self._check_batches(chunk, built, results)
        raws = [msgspec.Raw(raw) for position in sorted(built) for raw in built[position]]
        outcomes = iter(await self.store(raws) if raws else [])
        failed = False
        for position in sorted(built):
            row_outcomes = [next(outcomes) for _ in built[position]]
            results[position] = _row_result(chunk[position], row_outcomes, self.ledger)
            failed = failed or results[position].status == "failed"
        for position, row in enumerate(chunk):
            self.files.write(row, results[position])
            self.summary.count(results[position])
        return not failed

    async def _check_batches(
        self, chunk: list[Row], built: dict[int, list[bytes]], results: dict[int, RowResult]
    ) -> None:
        """A parcels row with no receipt must be about a batch received in an earlier row or on record."""
        if not self.ledger.name.endswith("-parcels"):
            return
        facts = {  # each row's site, batch and whether it records the receipt, read once
            position: (chunk[position].required("site"), chunk[position].required("batch"),
                       chunk[position].moment("received") is not None)
            for position in built
        }  # fmt: skip
        wanted: dict[str, set[str]] = {}
        for position in sorted(built):
            site, batch, receipt = facts[position]
            if receipt:
                self.received.setdefault(site, set()).add(batch)
            elif batch not in self.received.get(site, set()):
                wanted.setdefault(site, set()).add(batch)
        known = {site: await self.known_batches(site, sorted(batches)) for site, batches in wanted.items()}
        for position, (site, batch, receipt) in facts.items():
            if not receipt and batch not in self.received.get(site, set()) | known.get(site, set()):
                reason = f"未找到批次 {batch} 的接收记录：请先登记接收，或在本行填写接收时间"
                results[position] = RowResult(chunk[position].number, "rejected", self.ledger.header("batch"), reason)
                del built[position]


def _take(rows: Iterator[Row], count: int) -> list[Row]:
    taken = []
    for row in rows:
        taken.append(row)
        if len(taken) >= count:
            break
    return taken


def _row_result(row: Row, outcomes: list[Outcome], ledger: Ledger) -> RowResult:
    statuses = {outcome.status for outcome in outcomes}
    for outcome in outcomes:
        if outcome.status == "rejected":
            column = ledger.column_of(outcome.field or "$")
            return RowResult(row.number, "rejected", column, _refusal_in_chinese(outcome))
    if "failed" in statuses:
        return RowResult(
            row.number, "failed", "", "服务暂不可用，本行未导入；请稍后重新上传同一文件（已导入的行不会重复）"
        )
    status: Status = "duplicate" if statuses == {"duplicate"} else "accepted"
    return RowResult(row.number, status, events=len(outcomes))


def _refusal_in_chinese(outcome: Outcome) -> str:
    """Why intake refused a row's event, in the words of the branch's screen (the API's reason after it)."""
    reason = outcome.reason or ""
    if outcome.problem == "forbidden" and outcome.field == "site_id":
        return f"无权为该网点登记（网点未登记，或不在本账号的网点范围内）：{reason}"
    if outcome.problem == "conflict":
        return f"记录编号冲突：{reason}"
    return reason


def _cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def new_import_id() -> str:
    return f"imp_{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(4)}"


def save_summary(folder: Path, summary: ImportSummary) -> None:
    (folder / "summary.json").write_bytes(orjson.dumps(asdict(summary)))


def load_summary(folder: Path) -> dict[str, Any] | None:
    path = folder / "summary.json"
    return orjson.loads(path.read_bytes()) if path.exists() else None


async def save_upload(content: Any, target: IO[bytes], limit: int) -> int:
    """Copy a request body to `target` in chunks; its size, or ValueError past `limit` bytes."""
    size = 0
    async for chunk in content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ValueError(f"the file is larger than {limit} bytes")
        target.write(chunk)
    return size


def template_csv(ledger: Ledger) -> bytes:
    """The ledger's header row, UTF-8 with a BOM (Excel opens it in Chinese)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([column.header for column in ledger.columns])
    return ("\ufeff" + buffer.getvalue()).encode()


def template_xlsx(ledger: Ledger) -> bytes:
    """The ledger as a workbook: its sheet with the header row, and a sheet of notes with an example."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    sheet = workbook.add_worksheet(ledger.title[:31])
    for index, column in enumerate(ledger.columns):
        sheet.write(0, index, column.header, bold)
        sheet.set_column(index, index, max(12, len(column.header) * 2 + 2))
    sheet.freeze_panes(1, 0)
    notes = workbook.add_worksheet("填写说明")
    notes.write_row(0, 0, ["列", "说明", "示例"], bold)
    for index, column in enumerate(ledger.columns, start=1):
        notes.write_row(index, 0, [column.header, column.note, column.example])
    notes.set_column(0, 0, 18)
    notes.set_column(1, 1, 60)
    notes.set_column(2, 2, 36)
    last = len(ledger.columns) + 2
    notes.write(
        last,
        0,
        "只导入第一个工作表；每行一条记录，时间写成 2026-11-23 08:30（北京时间）。同一文件重复上传不会重复入库。",
    )
    workbook.close()
    return buffer.getvalue()
