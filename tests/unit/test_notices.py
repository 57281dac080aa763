"""Desk notices in the notifier: which records it takes from the events topic, which routes each
notice goes to, and what the enterprise reads."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.desk import AlertAssigned, SiteReminded
from services.notify.app import Notifier
from services.notify.ledger import Ledger
from services.notify.notices import Lookup, Notice, alert_notice, body, markdown
from services.notify.routes import Route, Routes
from streams.settings import Settings
from tests import factories

ALERT_ID = str(uuid.uuid4())
DUE = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai


class Rows:
    """A reader answering the notifier's two lookups from fixed rows."""

    def query(self, sql: str) -> list[dict[str, Any]]:
        if "FROM sites" in sql:
            return [{"site_name": "西湖文三路网点", "division_code": "330106"}]
        return [
            {
                "rule_id": "DIS-IMPORT", "title_zh": "进口邮件快件未按时消毒", "severity": "critical",
                "subject_kind": "batch", "subject_id": "B-9", "division_code": "330106",
            }
        ]  # fmt: skip


def assigned(at: datetime | None = None, assignee: str = "ent-a") -> dict[str, Any]:
    payload = {"alert_id": ALERT_ID, "regulator_id": "post-3301", "assignee_enterprise_id": assignee}
    return factories.event(
        "alert.assigned", {**payload, "due": DUE.isoformat(), "note": "请补做消毒"}, at=at or datetime.now(UTC)
    )


def reminded(at: datetime | None = None) -> dict[str, Any]:
    payload = {"regulator_id": "post-3301", "day": "2026-12-07", "missing": ["staff_checks", "parcel_records"]}
    return factories.event("site.reminded", payload, at=at or datetime.now(UTC))


@pytest.fixture
def notifier(tmp_path) -> Notifier:
    return Notifier(Settings(data_dir=tmp_path), Routes(), Ledger(tmp_path / "notify.sqlite"), Lookup(Rows()))


def test_only_recent_desk_events_are_taken_from_the_events_topic(notifier):
    received = factories.parcels_received()
    fresh, old = assigned(), reminded(at=datetime.now(UTC) - timedelta(days=2))
    assert notifier._desk_events(orjson.dumps(received)) == []
    found = notifier._desk_events(orjson.dumps([received, fresh, old, reminded()]))
    assert [type(event) for event in found] == [AlertAssigned, SiteReminded]
    assert str(found[0].event_id) == fresh["event_id"]
    assert notifier.stats.stale == 1
    # A note that merely mentions the type is not a desk event, and bytes that are not JSON are the worker's to park.
    noted = factories.event("anomaly.reported", {"kind": "other", "description": '"alert.assigned"'})
    assert notifier._desk_events(orjson.dumps(noted)) == []
    assert notifier._desk_events(b'"alert.assigned" {') == []


def test_an_assignment_goes_to_the_enterprise_asked_and_its_division(notifier):
    [event] = notifier._desk_events(orjson.dumps(assigned(assignee="ent-b")))
    notice = asyncio.run(notifier.lookup.notice(event))
    assert (notice.kind, notice.key, notice.alert_id) == ("alert.assigned", str(event.event_id), ALERT_ID)
    assert (notice.division_code, notice.enterprise_id, notice.severity) == ("330106", "ent-b", "critical")
    routes = Routes(
        routes=[
            Route(name="ent-b", url="http://x/b", enterprises=["ent-b"]),
            Route(name="ent-a", url="http://x/a", enterprises=["ent-a"]),
            Route(name="city", url="http://x/c", divisions=["3301"]),
            Route(name="guangzhou", url="http://x/g", divisions=["4401"]),
            Route(name="critical", url="http://x/k", severities=["critical"]),
            Route(name="minor", url="http://x/m", severities=["minor"]),
            Route(name="alerts-only", url="http://x/o", kinds=["alert.raised"]),
        ]
    )
    assert [route.name for route in routes.for_notice(notice)] == ["ent-b", "city", "critical"]
    text = markdown(notice)
    assert text.startswith("### 【督办】进口邮件快件未按时消毒：请于 2026-12-08 18:00 前处置")
    for line in ["- 网点：西湖文三路网点（site-a1，区划 330106）", "- 督办企业：ent-b", "- 说明：请补做消毒"]:
        assert line in text.splitlines()
    generic = body(notice, "json")
    assert generic["notice"]["event"]["payload"]["assignee_enterprise_id"] == "ent-b"
    assert generic["notice"]["rule_id"] == "DIS-IMPORT"


def test_a_reminder_goes_by_division_and_to_severity_routes_only_when_asked(notifier):
    [event] = notifier._desk_events(orjson.dumps(reminded()))
    notice = asyncio.run(notifier.lookup.notice(event))
    assert (notice.kind, notice.alert_id, notice.severity) == ("site.reminded", str(event.event_id), None)
    routes = Routes(
        routes=[
            Route(name="ent-a", url="http://x/a", enterprises=["ent-a"]),
            Route(name="critical", url="http://x/k", severities=["critical"]),
            Route(name="critical-and-reminders", url="http://x/r", severities=["critical"], kinds=["site.reminded"]),
            Route(name="xihu", url="http://x/x", divisions=["330106"]),
            Route(name="shangcheng", url="http://x/s", divisions=["330102"]),
        ]
    )
    assert [route.name for route in routes.for_notice(notice)] == ["ent-a", "critical-and-reminders", "xihu"]
    text = markdown(notice)
    assert text.startswith("### 【未报送提醒】西湖文三路网点 2026-12-07")
    assert "- 未报送：从业人员健康监测、邮件快件消毒与收发记录" in text.splitlines()


def test_alerts_route_as_before():
    from schemas.alerts import AlertRaised

    raised = AlertRaised(
        alert_id=ALERT_ID, rule_id="DIS-IMPORT", catalogue_version="1", severity="major", enterprise_id="ent-a",
        site_id="site-a1", division_code="330106", subject_kind="batch", subject_id="B-9", at=DUE, evidence=[],
        profile="normal", deadline=DUE, title_zh="进口邮件快件未按时消毒", details={},
    )  # fmt: skip
    notice: Notice = alert_notice(raised)
    routes = Routes(
        routes=[
            Route(name="major", url="http://x/m", severities=["major"]),
            Route(name="critical", url="http://x/k", severities=["critical"]),
            Route(name="desk-only", url="http://x/d", kinds=["alert.assigned"]),
        ]
    )
    assert [route.name for route in routes.for_notice(notice)] == ["major"]
    assert body(notice, "json")["alert"]["alert_id"] == ALERT_ID
    assert markdown(notice).startswith("### 【重要】进口邮件快件未按时消毒")
