"""The alert desk end to end: a real stack (Kafka, worker, ingest, the regulator service, the
notifier) and a real browser. A regulator acknowledges, assigns and closes an alert; each action is
an event in the log and in the warehouse, in order, with the regulator as actor; the enterprise sees
the assignment through its API and its webhook, and a reminder (未报送) reaches it the same way."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
import yaml
from kafka import KafkaConsumer
from playwright.sync_api import Page, sync_playwright

from deploy.stack import LocalStack
from services.registry import Registry
from tests import factories
from tests.conftest import StackClient, json_response, stack_settings, wait_until
from tests.support.browser import ARTIFACTS, chromium_path
from tests.support.kafka import topic_records
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
SITE, ENTERPRISE, BATCH = "desk-intl-01", "desk-express", "DESK-I-1"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(kafka, tmp_path_factory, receiver) -> Iterator[StackClient]:
    data = tmp_path_factory.mktemp("desk")
    routes = [
        {"name": "enterprise", "url": f"{receiver.url}/enterprise", "format": "markdown", "enterprises": [ENTERPRISE]},
        {"name": "elsewhere", "url": f"{receiver.url}/elsewhere", "divisions": ["4401"]},
    ]
    (data / "routes.yaml").write_text(yaml.safe_dump({"routes": routes}))
    settings = stack_settings(kafka.bootstrap, data, clock_tick_seconds=0.5, notify_routes=data / "routes.yaml")
    running = LocalStack.from_settings(settings, own_kafka=False)
    running.start()
    yield StackClient(running)
    running.stop()


@pytest.fixture(scope="module")
def raised(stack: StackClient) -> dict[str, Any]:
    """An imported batch received two hours ago with no disinfection record: DIS-IMPORT, open."""
    token = stack.create_enterprise(ENTERPRISE)
    now = datetime.now(factories.SHANGHAI)
    site = factories.site_registered(enterprise=ENTERPRISE, site=SITE, division="330109", at=now - timedelta(days=1))
    site["payload"].update(handles_international=True, site_kind="international_processing")
    received = factories.parcels_received(
        batch=BATCH, origin="imported", count=80, enterprise=ENTERPRISE, site=SITE, at=now - timedelta(hours=2)
    )
    status, body = stack.post([site, received], token)
    assert status == 202, body
    rows = wait_until(
        lambda: stack.query(
            f"SELECT toString(alert_id) AS id FROM alerts WHERE subject_id = '{BATCH}' AND rule_id = 'DIS-IMPORT' "
            "AND alert_type = 'alert.raised'"
        ),
        timeout=90,
    )
    return {"alert_id": rows[0]["id"], "token": token}


def regulator_token(stack: StackClient) -> str:
    registry = Registry(stack.settings.ingest_db_path)
    try:
        return registry.create_regulator("post-3301", "杭州市邮政管理局", "3301")
    finally:
        registry.close()


def act(page: Page, action: str, note: str) -> None:
    page.fill("#actions textarea[name=note]", note)
    before = page.locator(".history li[data-action]").count()
    page.click(f"#actions button[data-action={action}]")
    page.locator(".history li[data-action]").nth(before).wait_for(timeout=30_000)


def test_a_regulator_works_an_alert_and_the_log_holds_each_step(stack, raised, receiver):
    url = f"http://{stack.settings.regulator_host}:{stack.settings.regulator_port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
        page.goto(f"{url}/desk")
        page.fill("#token", regulator_token(stack))
        page.click("button[type=submit]")
        page.wait_for_url("**/desk")
        page.click(f"#alerts tr[data-alert-id='{raised['alert_id']}']")
        page.wait_for_selector("#actions")
        assert "进口邮件快件未按时消毒" in page.inner_text("#detail")
        assert "邮件到达" in page.inner_text("#detail")  # the evidence: the receipt with its payload
        act(page, "acknowledge", "已电话联系网点负责人")
        act(page, "assign", "请于期限内补做消毒并上传记录")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "desk-assigned.png"), full_page=True)
        page.fill("#actions textarea[name=note]", "")
        page.click("#actions button[data-action=close]")
        page.wait_for_selector("#actions .status.error")
        assert "note" in page.inner_text("#actions .status")  # closing needs a note, and nothing was sent
        act(page, "close", "网点已整改，消毒记录已补录")
        page.wait_for_selector("#detail >> text=已办结。")
        browser.close()

    stored = stack.query(
        "SELECT toString(event_id) AS id, action, regulator_id, assignee_enterprise_id, note FROM alert_actions "
        f"WHERE alert_id = toUUID('{raised['alert_id']}') ORDER BY occurred_at, event_id"
    )
    assert [row["action"] for row in stored] == ["acknowledged", "assigned", "closed"]
    assert {row["regulator_id"] for row in stored} == {"post-3301"}
    assert stored[1]["assignee_enterprise_id"] == ENTERPRISE

    # The log holds the same history, in order, on the site's partition (clock ticks share it): a replay rebuilds it.
    logged = [
        event
        for event in consume_all(stack)
        if event.get("event_type", "").startswith("alert.") and event["payload"]["alert_id"] == raised["alert_id"]
    ]
    assert [event["event_id"] for event in logged] == [row["id"] for row in stored]
    assert {(event["site_id"], event["enterprise_id"]) for event in logged} == {(SITE, ENTERPRISE)}

    status, assignments = json_response(
        urllib.request.Request(
            f"http://{stack.settings.ingest_host}:{stack.settings.ingest_port}/v1/assignments",
            headers={"Authorization": f"Bearer {raised['token']}"},
        )
    )
    assert status == 200
    (mine,) = [a for a in assignments["assignments"] if a["alert_id"] == raised["alert_id"]]
    assert (mine["rule_id"], mine["subject_id"], mine["closed"]) == ("DIS-IMPORT", BATCH, True)

    # The notifier routed the assignment to the enterprise's webhook, once, and filed the delivery.
    [hook] = wait_until(lambda: receiver.notices("alert.assigned"), timeout=30)
    assert hook["path"] == "/enterprise"
    assert hook["notice"] == f"{stored[1]['id']}/alert.assigned"
    text = hook["body"]["markdown"]["content"]
    assert text.startswith("### 【督办】进口邮件快件未按时消毒：请于 ")
    assert "- 说明：请于期限内补做消毒并上传记录" in text.splitlines()
    delivered = wait_until(
        lambda: stack.query(
            "SELECT route, status FROM alert_deliveries FINAL "
            f"WHERE alert_id = toUUID('{raised['alert_id']}') AND alert_type = 'alert.assigned'"
        )
    )
    assert delivered == [{"route": "enterprise", "status": "delivered"}]


def test_a_reminder_reaches_the_sites_enterprise(stack, raised, receiver):
    """未报送: the regulator reminds the site (it posted no staff checks today); the enterprise's webhook says so."""
    url = f"http://{stack.settings.regulator_host}:{stack.settings.regulator_port}"
    session = requests.Session()
    form = session.get(f"{url}/login", timeout=10).text
    nonce = re.search(r'name="csrf" value="([^"]+)"', form)
    assert nonce is not None
    signed_in = session.post(
        f"{url}/login", data={"csrf": nonce[1], "token": regulator_token(stack), "next": "/"}, timeout=10
    )
    assert signed_in.status_code == 200
    csrf = session.get(f"{url}/api/session", timeout=10).json()["csrf"]
    today = datetime.now(factories.SHANGHAI).date().isoformat()
    reminded = session.post(
        f"{url}/api/unreported/{SITE}/remind",
        json={"date": today, "note": "请今日补报从业人员健康监测"},
        headers={"X-CSRF-Token": csrf},
        timeout=30,
    )
    assert reminded.status_code == 202, reminded.text
    [hook] = wait_until(lambda: receiver.notices("site.reminded"), timeout=30)
    assert hook["path"] == "/enterprise"
    text = hook["body"]["markdown"]["content"]
    name = stack.scalar(f"SELECT argMax(name, registered_at) FROM sites WHERE site_id = '{SITE}'")
    assert text.startswith(f"### 【未报送提醒】{name} {today}")
    assert f"- 网点：{name}（{SITE}，区划 330109）" in text.splitlines()
    assert "从业人员健康监测" in text
    assert "- 说明：请今日补报从业人员健康监测" in text.splitlines()
    assert not [r for r in receiver.received if r["path"] == "/elsewhere"]


def test_an_enterprise_cannot_record_a_desk_action(stack, raised):
    forged = factories.event(
        "alert.closed",
        {"alert_id": raised["alert_id"], "regulator_id": "post-3301", "note": "自己办结"},
        enterprise=ENTERPRISE,
        site=SITE,
        at=datetime.now(factories.SHANGHAI),
    )
    status, body = stack.post(forged, raised["token"])
    assert status in (403, 422), body
    assert body["results"][0]["field"] == "event_type"


def consume_all(stack: StackClient) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    try:
        events: list[dict[str, Any]] = []
        for record in topic_records(consumer, stack.settings.topic_events):
            value = orjson.loads(record.value)
            events.extend(value if isinstance(value, list) else [value])
        return events
    finally:
        consumer.close()
