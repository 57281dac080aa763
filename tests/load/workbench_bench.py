"""`make bench-workbench`: figures for the branches' workbench on a local stack (its own Kafka).

- Import: a 100 000-row ledger (.csv, or .xlsx with --xlsx) posted to POST /v1/imports: rows per
  second, the ingest process's peak resident memory (VmHWM) before and after, and a second upload
  of the same file (it must store nothing new).
- Save to queryable: in chromium at a phone's viewport, the time from pressing 保存 to the record
  being in the warehouse (raw_events), over a number of saves; quantiles.

Figures, not assertions; one JSON file per run in bench/results/.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import openpyxl
import orjson

from deploy.kafka_broker import free_port
from deploy.stack import LocalStack
from services.ingest.ledgers import LEDGERS
from tests import factories
from tests.conftest import StackClient, json_response, stack_settings, wait_until
from tests.support.browser import chromium_path
from tests.support.measure import nearest_rank

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
SITE, SORTER = "site-bench-1", "ps_" + "5" * 32


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def ledger_file(folder: Path, rows: int, xlsx: bool) -> Path:
    ledger = LEDGERS["domestic-parcels"]
    header = [column.header for column in ledger.columns]
    start = datetime.now(factories.SHANGHAI) - timedelta(days=30)

    def row(number: int) -> list[Any]:
        received = start + timedelta(seconds=number * 20)
        values = {
            "网点编号": SITE,
            "批次号": f"L-{number:07d}",
            "件数": 40,
            "来自市外": "是",
            "接收时间": f"{received:%Y-%m-%d %H:%M:%S}",
            "消毒时间": f"{received + timedelta(minutes=20):%Y-%m-%d %H:%M:%S}",
            "消毒方式": "喷洒",
            "消毒剂": "含氯消毒剂 500mg/L",
            "消毒人员（化名）": SORTER,
        }
        return [values.get(name, "") for name in header]

    if xlsx:
        path = folder / "ledger.xlsx"
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(header)
        for number in range(rows):
            sheet.append(row(number))
        workbook.save(path)
        return path
    path = folder / "ledger.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(row(number) for number in range(rows))
    return path


def upload(stack: StackClient, token: str, path: Path) -> tuple[float, dict[str, Any]]:
    url = f"http://{stack.settings.ingest_host}:{stack.settings.ingest_port}/v1/imports?ledger=domestic-parcels"
    fmt = "xlsx" if path.suffix == ".xlsx" else "csv"
    request = urllib.request.Request(
        f"{url}&format={fmt}",
        data=path.read_bytes(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    started = time.perf_counter()
    status, body = json_response(request)
    if status != 200:
        raise RuntimeError(f"import answered {status}: {body}")
    return time.perf_counter() - started, body


def save_to_queryable(stack: StackClient, operator_token: str, saves: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    waits: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 360, "height": 740}, locale="zh-CN", timezone_id="Asia/Shanghai")
        page.goto(f"http://{stack.settings.ingest_host}:{stack.settings.ingest_port}/app/")
        page.fill("input[name=token]", operator_token)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#view-today:not([hidden]) .card")
        for number in range(saves):
            page.click("nav#tabs button[data-view=record]")
            page.click("button[data-form=receive]")
            page.fill("#event-form [name=batch_id]", f"S-{number}-{time.time_ns()}")
            page.fill("#event-form [name=item_count]", "10")
            pressed = time.perf_counter()
            page.click("#event-form button[type=submit]")
            page.wait_for_selector("#view-today:not([hidden])")
            event_id = page.evaluate(
                """() => new Promise(resolve => { const open = indexedDB.open("tongfang-workbench", 1);
                open.onsuccess = () => { const r = open.result.transaction(["sent"]).objectStore("sent").getAll();
                r.onsuccess = () => resolve(r.result.sort((a, b) => b.at - a.at)[0].event_id); }; })"""
            )
            wait_until(partial(stack.query, f"SELECT 1 FROM raw_events WHERE event_id = '{event_id}'"), 120, 0.02)
            waits.append(time.perf_counter() - pressed)
        browser.close()
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--xlsx", action="store_true", help="upload an .xlsx ledger instead of .csv")
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tongfang-bench-") as scratch:
        folder = Path(scratch)
        stack = LocalStack.from_settings(
            stack_settings(f"127.0.0.1:{free_port()}", folder / "stack", ingest_rate_per_second=0)
        )
        stack.start()
        try:
            client = StackClient(stack)
            token = client.create_enterprise("ent-bench")
            staff = factories.event(
                "staff.enrolled",
                {"staff_id": SORTER, "role": "sorter", "employer": "direct"},
                enterprise="ent-bench",
                site=SITE,
                at=datetime.now(factories.SHANGHAI),
            )
            site = factories.site_registered(
                enterprise="ent-bench", site=SITE, at=datetime.now(factories.SHANGHAI) - timedelta(days=60)
            )
            assert client.post([site, staff], token)[0] == 202
            wait_until(lambda: client.scalar(f"SELECT count() FROM staff FINAL WHERE site_id = '{SITE}'") == 1)
            request = urllib.request.Request(
                f"http://{stack.settings.ingest_host}:{stack.settings.ingest_port}/v1/operators",
                data=orjson.dumps({"label": "bench", "sites": [SITE]}),
                method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            operator = json_response(request)[1]
            waits = save_to_queryable(client, operator["token"], args.saves)  # before the import's backlog
            ingest_pid = stack.services["ingest"].process.pid  # type: ignore[union-attr]
            before_mb = peak_rss_mb(ingest_pid)
            path = ledger_file(folder, args.rows, args.xlsx)
            file_mb = round(path.stat().st_size / 2**20, 1)
            seconds, first = upload(client, token, path)
            after_mb = peak_rss_mb(ingest_pid)
            again_s, again = upload(client, token, path)
        finally:
            stack.stop()
    result = {
        "run": time.strftime("%Y%m%dT%H%M%S"),
        "import": {
            "rows": args.rows,
            "format": path.suffix[1:],
            "file_mb": file_mb,
            "seconds": round(seconds, 1),
            "rows_per_s": round(args.rows / seconds),
            "events": first["events"],
            "accepted": first["accepted"],
            "rejected": first["rejected"],
            "ingest_peak_rss_mb_before": round(before_mb, 1),
            "ingest_peak_rss_mb_after": round(after_mb, 1),
            "second_upload": {
                "seconds": round(again_s, 1),
                "accepted": again["accepted"],
                "duplicate": again["duplicate"],
            },
        },
        "save_to_queryable_s": {f"p{int(q * 100)}": round(nearest_rank(sorted(waits), q), 3) for q in (0.5, 0.9, 0.99)}
        | {"saves": len(waits)},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"workbench-{result['run']}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
