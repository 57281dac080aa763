"""The branches' workbench on the real stack (Kafka, the worker, the warehouse, ingest serving /app),
in Debian's chromium at a phone's viewport: an operator signs in, receives, disinfects and dispatches
a batch; the dispatch gate stops a batch with no disinfection until the operator records why; records
made offline wait on the device and are stored once each, however often they are sent. And over
HTTP: an operator's token posts only for its sites and no registry events; ledgers import row by row."""

from __future__ import annotations

import csv
import io
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from services.ingest.ledgers import LEDGERS
from tests import factories
from tests.conftest import StackClient, json_response, wait_until
from tests.support.browser import ARTIFACTS, launched

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ENTERPRISE = "ent-wb"
SITE, OTHER_SITE = "site-wb1", "site-wb2"
SORTER, DRIVER = "ps_" + "5" * 32, "ps_" + "6" * 32
PHONE: ViewportSize = {"width": 360, "height": 740}


def now() -> datetime:
    return datetime.now(factories.SHANGHAI)


def call(
    stack: StackClient,
    method: str,
    path: str,
    token: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    url = f"http://{stack.settings.ingest_host}:{stack.settings.ingest_port}{path}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    return json_response(urllib.request.Request(url, data=body, headers=headers, method=method))


@pytest.fixture(scope="module")
def branch(running_stack: StackClient) -> dict[str, Any]:
    """An enterprise with two sites and their staff on record, and an operator for one site."""
    token = running_stack.create_enterprise(ENTERPRISE)
    registered = [
        factories.site_registered(enterprise=ENTERPRISE, site=site, at=now() - timedelta(days=1))
        for site in (SITE, OTHER_SITE)
    ]
    staff = [
        factories.event(
            "staff.enrolled",
            {"staff_id": person, "role": role, "employer": "direct"},
            enterprise=ENTERPRISE,
            site=SITE,
            at=now() - timedelta(hours=20),
        )
        for person, role in ((SORTER, "sorter"), (DRIVER, "driver"))
    ]
    assert running_stack.post(registered + staff, token)[0] == 202
    wait_until(lambda: running_stack.scalar(f"SELECT count() FROM staff FINAL WHERE site_id = '{SITE}'") == 2)
    status, operator = call(
        running_stack, "POST", "/v1/operators", token, orjson.dumps({"label": "西湖早班", "sites": [SITE]})
    )
    assert status == 201, operator
    return {"token": token, "operator": operator}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


@pytest.fixture
def phone(
    browser: Browser, running_stack: StackClient, branch: dict[str, Any]
) -> Iterator[tuple[BrowserContext, Page]]:
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://{running_stack.settings.ingest_host}:{running_stack.settings.ingest_port}/app")
    page.fill("input[name=token]", branch["operator"]["token"])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#view-today:not([hidden]) .card")
    yield context, page
    assert errors == []
    context.close()


def stored(stack: StackClient, event_ids: list[str]) -> dict[str, int]:
    listed = ", ".join(f"'{event_id}'" for event_id in event_ids)
    rows = stack.query(
        f"SELECT toString(event_id) AS id, count() AS copies FROM raw_events WHERE event_id IN ({listed}) GROUP BY id"
    )
    return {row["id"]: row["copies"] for row in rows}


def record(page: Page, form: str, **fields: str) -> None:
    page.click("nav#tabs button[data-view=record]")
    page.click(f"button[data-form={form}]")
    for name, value in fields.items():
        element = page.locator(f"#event-form [name={name}]")
        if element.evaluate("e => e.tagName") == "SELECT":
            element.select_option(value)
        else:
            element.fill(value)
    page.click("#event-form button[type=submit]")


def device_events(page: Page, store: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """store => new Promise(resolve => { const open = indexedDB.open("tongfang-workbench", 1);
        open.onsuccess = () => { const request = open.result.transaction([store]).objectStore(store).getAll();
        request.onsuccess = () => resolve(request.result); }; })""",
        store,
    )
    return found


def test_an_operator_receives_disinfects_and_dispatches_a_batch_from_a_phone(phone, running_stack, branch):
    _, page = phone
    record(page, "receive", batch_id="WB-1", item_count="50")
    page.wait_for_selector("#view-today:not([hidden])")
    record(page, "disinfect", batch_id="WB-1", item_count="50", agent="含氯消毒剂 500mg/L", operator_id=SORTER)
    page.wait_for_selector("#view-today:not([hidden])")
    record(page, "dispatch", batch_id="WB-1", item_count="50")
    page.wait_for_selector("#view-today:not([hidden])")
    sent = {item["event"]["event_type"]: item for item in device_events(page, "sent")}
    assert set(sent) == {"parcels.received", "parcels.disinfected", "parcels.dispatched"}
    assert {item["status"] for item in sent.values()} == {"accepted"}
    ids = [item["event_id"] for item in sent.values()]
    wait_until(lambda: len(stored(running_stack, ids)) == 3)
    rows = running_stack.query(
        "SELECT event_type, actor_id, site_id, JSONExtractString(payload, 'operator_id') AS operator FROM raw_events "
        f"WHERE event_id IN ({', '.join(repr(i) for i in ids)}) ORDER BY occurred_at"
    )
    assert [row["event_type"] for row in rows] == ["parcels.received", "parcels.disinfected", "parcels.dispatched"]
    assert {(row["actor_id"], row["site_id"]) for row in rows} == {(branch["operator"]["actor_id"], SITE)}
    assert rows[1]["operator"] == SORTER
    page.click("nav#tabs button[data-view=today]")
    page.wait_for_selector("#view-today:not([hidden]) .card")
    page.screenshot(path=str(ARTIFACTS / "workbench-today.png"), full_page=True)


def test_the_dispatch_gate_stops_a_batch_with_no_disinfection_until_the_reason_is_recorded(phone, running_stack):
    _, page = phone
    record(page, "receive", batch_id="WB-2", item_count="30")
    page.wait_for_selector("#view-today:not([hidden])")
    record(page, "dispatch", batch_id="WB-2", item_count="30")
    gate = page.wait_for_selector(".gate")
    assert "没有消毒记录" in gate.inner_text()
    assert not [
        item
        for item in device_events(page, "queue") + device_events(page, "sent")
        if item["event"]["event_type"] == "parcels.dispatched" and item["event"]["payload"]["batch_id"] == "WB-2"
    ]
    page.screenshot(path=str(ARTIFACTS / "workbench-gate.png"), full_page=True)
    page.fill("textarea[name=override_reason]", "客户加急，已口头报备，消毒记录稍后补录")
    page.click("#event-form button[type=submit]")
    page.wait_for_selector("#view-today:not([hidden])")
    [dispatch] = [
        item
        for item in device_events(page, "sent")
        if item["event"]["event_type"] == "parcels.dispatched" and item["event"]["payload"]["batch_id"] == "WB-2"
    ]
    reason = wait_until(
        lambda: running_stack.query(
            f"SELECT JSONExtractString(payload, 'override_reason') AS reason FROM raw_events "
            f"WHERE event_id = '{dispatch['event_id']}'"
        )
    )
    assert reason == [{"reason": "客户加急，已口头报备，消毒记录稍后补录"}]


def test_records_made_offline_wait_on_the_device_and_are_stored_once_however_often_sent(phone, running_stack):
    context, page = phone
    context.set_offline(True)
    for temperature in ("36.4", "36.6", "36.8"):
        record(page, "check", staff_id=SORTER, temperature=temperature, health_code="green")
        page.wait_for_selector("#view-today:not([hidden])")
    assert page.inner_text("#pending") == "3"
    expect(page.locator("#banner")).to_contain_text("无网络")  # once the save's toast is gone
    page.screenshot(path=str(ARTIFACTS / "workbench-offline.png"), full_page=True)
    queued = [item["event"]["event_id"] for item in device_events(page, "queue")]
    context.set_offline(False)
    expect(page.locator("#pending")).to_have_text("0", timeout=30_000)
    wait_until(lambda: stored(running_stack, queued) == dict.fromkeys(queued, 1))

    # Sent, stored, and the answer lost: the page is reloaded before it reads it; the same ids go again.
    context.set_offline(True)
    for area in ("whole_site", "international", "domestic"):
        record(page, "premises", agent="含氯消毒剂", area=area)
        page.wait_for_selector("#view-today:not([hidden])")
    assert page.inner_text("#pending") == "3"
    again = [item["event"]["event_id"] for item in device_events(page, "queue")]
    answers_lost: list[int] = []

    def lose_the_answer(route: Any) -> None:
        route.fetch()  # the service stores them ...
        answers_lost.append(1)
        route.abort()  # ... and the device never hears so

    page.route("**/app/api/events", lose_the_answer)
    context.set_offline(False)
    for _ in range(200):  # Playwright runs the route handler while it is called: wait in the page
        if answers_lost:
            break
        page.wait_for_timeout(300)
    assert answers_lost
    assert page.inner_text("#pending") == "3"
    page.unroute("**/app/api/events")
    page.reload()
    expect(page.locator("#pending")).to_have_text("0", timeout=30_000)
    statuses = {item["event_id"]: item["status"] for item in device_events(page, "sent") if item["event_id"] in again}
    assert statuses == dict.fromkeys(again, "duplicate")
    wait_until(lambda: stored(running_stack, again) == dict.fromkeys(again, 1))


def test_an_operator_token_posts_only_its_sites_own_events(running_stack, branch):
    token = branch["operator"]["token"]
    other = factories.parcels_received(enterprise=ENTERPRISE, site=OTHER_SITE, at=now())
    status, body = call(running_stack, "POST", "/v1/events", token, factories_json([other]))
    assert (status, body["results"][0]["field"]) == (403, "site_id")
    registry = factories.event(
        "staff.enrolled",
        {"staff_id": "ps_" + "7" * 32, "role": "courier", "employer": "direct"},
        enterprise=ENTERPRISE,
        site=SITE,
        at=now(),
    )
    status, body = call(running_stack, "POST", "/v1/events", token, factories_json([registry]))
    assert (status, body["results"][0]["field"]) == (403, "event_type")
    status, body = call(running_stack, "GET", "/v1/operators", token)
    assert status == 403  # managing operators is the enterprise's
    mine = factories.parcels_received(enterprise=ENTERPRISE, site=SITE, batch="WB-API", at=now())
    assert call(running_stack, "POST", "/v1/events", token, factories_json([mine]))[0] == 202
    wait_until(lambda: stored(running_stack, [mine["event_id"]]))  # what came after them is stored ...
    assert stored(running_stack, [other["event_id"], registry["event_id"]]) == {}  # ... and they are not


def test_a_ledger_imports_row_by_row_and_a_second_upload_stores_nothing_new(running_stack, branch):
    ledger = LEDGERS["domestic-parcels"]
    header = [column.header for column in ledger.columns]
    day = now() - timedelta(days=2)

    def row(**cells: str) -> list[str]:
        values = {
            "网点编号": SITE,
            "件数": "40",
            "来自市外": "是",
            "消毒方式": "擦拭",
            "消毒剂": "75% 酒精",
            "消毒人员（化名）": SORTER,
            **cells,
        }
        return [values.get(name, "") for name in header]

    stamp = f"{day:%Y-%m-%d}"
    batch = f"IMP-{uuid.uuid4().hex[:6]}"
    rows = [
        row(批次号=batch, 接收时间=f"{stamp} 07:40", 消毒时间=f"{stamp} 08:10", 发出时间=f"{stamp} 10:00"),
        row(批次号=f"{batch}-2", 接收时间="明天早上"),
        row(批次号=f"{batch}-X", 消毒时间=f"{stamp} 08:10"),
        row(
            批次号=f"{batch}-3",
            接收时间=f"{stamp} 07:40",
            消毒时间=f"{stamp} 08:00",
            **{"消毒人员（化名）": "11010519491231002X"},
        ),
        row(批次号=batch, 接收时间=f"{stamp} 07:40", 消毒时间=f"{stamp} 08:10", 发出时间=f"{stamp} 10:00"),
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    body = ("\ufeff" + buffer.getvalue()).encode()
    status, summary = call(
        running_stack, "POST", "/v1/imports?ledger=domestic-parcels", branch["token"], body, "text/csv"
    )
    assert status == 200, summary
    assert (summary["rows"], summary["accepted"], summary["duplicate"], summary["rejected"]) == (5, 1, 1, 3)
    assert [(p["row"], p["column"]) for p in summary["problems"]] == [
        (3, "接收时间"),
        (4, "批次号"),
        (5, "消毒人员（化名）"),
    ]
    url = f"http://{running_stack.settings.ingest_host}:{running_stack.settings.ingest_port}{summary['errors_url']}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {branch['token']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        errors = response.read().decode("utf-8-sig")
    assert "11010519491231002X" not in errors
    assert [line.split(",")[0] for line in errors.splitlines()[1:]] == ["3", "4", "5"]
    wait_until(
        lambda: (
            running_stack.scalar(f"SELECT count() FROM parcel_events WHERE batch_id = '{batch}' AND site_id = '{SITE}'")
            == 3
        )
    )
    status, again = call(
        running_stack, "POST", "/v1/imports?ledger=domestic-parcels", branch["token"], body, "text/csv"
    )
    assert (status, again["accepted"], again["duplicate"], again["rejected"]) == (200, 0, 2, 3)
    rows_now = running_stack.query(
        f"SELECT event_type, backfill FROM raw_events WHERE site_id = '{SITE}' "
        f"AND JSONExtractString(payload, 'batch_id') = '{batch}' ORDER BY occurred_at"
    )
    assert [(r["event_type"], r["backfill"]) for r in rows_now] == [
        ("parcels.received", True),
        ("parcels.disinfected", True),
        ("parcels.dispatched", True),
    ]


def factories_json(bodies: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(bodies)


def test_the_workbench_is_served_whole_and_only_its_own_files(running_stack):
    base = f"http://{running_stack.settings.ingest_host}:{running_stack.settings.ingest_port}"
    with urllib.request.urlopen(f"{base}/app/", timeout=30) as page:
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert "今日" in page.read().decode()
    with urllib.request.urlopen(f"{base}/app/vendor/zxing.min.js", timeout=30) as decoder:
        assert b"ZXing" in decoder.read(4096)  # the barcode fallback, from npm by `make console-assets`
    for path in ("/app/..%2Fapp.py", "/app/%2e%2e/intake.py", "/app/nothing.js"):
        assert json_response(urllib.request.Request(base + path))[0] == 404


def test_a_sign_in_link_signs_in_and_leaves_no_token_in_the_address(browser, running_stack, branch):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    base = f"http://{running_stack.settings.ingest_host}:{running_stack.settings.ingest_port}"
    page.goto(f"{base}/app/#token={branch['operator']['token']}")
    page.wait_for_selector("#view-today:not([hidden]) .card")
    assert page.url == f"{base}/app/"
    cookie = next(c for c in context.cookies() if c["name"] == "tf_operator")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/app")
    context.close()


def test_a_ledger_uploaded_in_the_app_shows_each_rows_fate(phone, tmp_path):
    _, page = phone
    ledger = LEDGERS["staff-health"]
    header = [column.header for column in ledger.columns]
    day = f"{now() - timedelta(days=1):%Y-%m-%d}"
    rows = [
        {
            "网点编号": SITE,
            "人员（化名）": SORTER,
            "记录类型": "体温检测",
            "时间": f"{day} 07:30",
            "体温": "36.5",
            "健康码": "绿码",
        },
        {
            "网点编号": SITE,
            "人员（化名）": SORTER,
            "记录类型": "核酸检测",
            "时间": f"{day} 12:00",
            "采样时间": f"{day} 08:00",
            "检测结果": "阴性",
        },
        {
            "网点编号": SITE,
            "人员（化名）": "11010519491231002X",
            "记录类型": "体温检测",
            "时间": f"{day} 07:31",
            "体温": "36.6",
            "健康码": "绿码",
        },
        {"网点编号": OTHER_SITE, "人员（化名）": SORTER, "记录类型": "上岗", "时间": f"{day} 08:00"},
    ]
    path = tmp_path / "从业人员健康监测.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file).writerows([header, *([row.get(name, "") for name in header] for row in rows)])
    page.click("nav#tabs button[data-view=import]")
    page.select_option("#ledger", "staff-health")
    assert page.get_attribute("#template-links a", "href") == "/v1/templates/staff-health.xlsx"
    page.set_input_files("#import-form input[type=file]", str(path))
    page.click("#import-form button[type=submit]")
    result = page.wait_for_selector("#import-result table.result")
    assert "已导入 2 行" in page.inner_text("#import-result")
    cells = [row.split("\t")[:3] for row in result.inner_text().splitlines()[1:]]
    assert cells == [["4", "拒绝", "人员（化名）"], ["5", "拒绝", "网点编号"]]
    page.screenshot(path=str(ARTIFACTS / "workbench-import.png"), full_page=True)
