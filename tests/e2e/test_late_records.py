"""Late records on the real stack: a branch posts a day of its parcel ledger 2 days late and another
17 days late, one event per request, as a branch catching up would, and a third day 30 days late
as history (`tongfang import --backfill`, run twice: the second run stores nothing new). The
alerts table's final state equals what `tongfang replay` gives over the same stored events and
over the Kafka log, for a range that starts long after the site was registered; each day is one
LEDGER-LATE alert; the back-filled day raises only what stands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from deploy.stack import LocalStack
from schemas.alerts import AlertRaised, AlertResolved, AnyAlert
from services.cli import main
from streams.compliance.catalogue import DEFAULT_CATALOGUE, load
from streams.compliance.replay import replay
from streams.history import from_kafka, from_warehouse
from streams.warehouse import WorkerReader
from tests import factories
from tests.conftest import StackClient, stack_settings, wait_until

pytestmark = pytest.mark.e2e
SITE, ENTERPRISE = "late-site-01", "late-express"
JUDGED = ("DIS-IMPORT", "DIS-DOMESTIC", "DIS-COVERAGE", "DIS-BEFORE-DISPATCH", "REST-IMPORT", "LEDGER-LATE")
Table = dict[tuple[str, str], str]


@pytest.fixture(scope="module")
def stack(kafka, tmp_path_factory) -> Iterator[StackClient]:
    data = tmp_path_factory.mktemp("late")
    catalogue = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    catalogue["backfill_wait"] = "3s"  # the history's checks wait 3 s of the clock, not a quarter of an hour
    (data / "catalogue.yaml").write_text(yaml.safe_dump(catalogue, allow_unicode=True))
    settings = stack_settings(kafka.bootstrap, data, clock_tick_seconds=0.5, rule_catalogue=data / "catalogue.yaml")
    running = LocalStack.from_settings(settings, own_kafka=False)
    running.start()
    yield StackClient(running)
    running.stop()


def ledger_of_a_day(day: datetime, tag: str) -> list[dict[str, Any]]:
    """A day's parcel ledger: 200 items received at 14:00 and 150 disinfected at 14:20 (coverage
    short); an imported batch disinfected in time; a domestic one disinfected late; an imported one
    never disinfected."""

    def at(hour: int, minute: int = 0) -> datetime:
        return day.replace(hour=hour, minute=minute)

    kw: dict[str, Any] = {"enterprise": ENTERPRISE, "site": SITE}
    outside = {"from_outside_city": True}
    bodies = [
        factories.parcels_received(f"{tag}-SHORT", 200, at=at(14), **kw),
        factories.parcels_disinfected(f"{tag}-SHORT", 150, at=at(14, 20), **kw),
        factories.parcels_dispatched(f"{tag}-SHORT", at=at(16), **kw),
        factories.parcels_received(f"{tag}-IMP-OK", 80, "imported", at=at(8), **kw),
        factories.parcels_disinfected(f"{tag}-IMP-OK", 80, at=at(8, 40), **kw),
        factories.parcels_received(f"{tag}-DOM-LATE", 120, at=at(9), **kw),
        factories.parcels_disinfected(f"{tag}-DOM-LATE", 120, at=at(15), **kw),
        factories.parcels_received(f"{tag}-IMP-NONE", 60, "imported", at=at(10), **kw),
    ]
    for body in bodies:
        if body["event_type"] == "parcels.received" and body["payload"]["origin"] == "domestic":
            body["payload"].update(outside)
    return sorted(bodies, key=lambda body: body["occurred_at"])


def table_of(alerts: list[AnyAlert]) -> Table:
    resolved = {a.alert_id: a for a in alerts if isinstance(a, AlertResolved)}
    out: Table = {}
    for alert in alerts:
        if isinstance(alert, AlertRaised) and alert.rule_id in JUDGED and alert.site_id == SITE:
            settled = resolved.get(alert.alert_id)
            if settled is None or settled.late_reason != "record_after_deadline":
                out[(alert.rule_id, alert.subject_id)] = (
                    "open" if settled is None else settled.late_reason or "resolved"
                )
    return out


def stored_table(stack: StackClient) -> Table:
    rows = stack.query(
        "SELECT r.rule_id AS rule_id, r.subject_id AS subject_id, s.reason AS reason, s.n AS resolved "
        f"FROM (SELECT DISTINCT alert_id, rule_id, subject_id FROM alerts WHERE site_id = '{SITE}' "
        f"AND alert_type = 'alert.raised' AND rule_id IN {JUDGED}) AS r "
        "LEFT JOIN (SELECT alert_id, any(late_reason) AS reason, count() AS n FROM alerts "
        f"WHERE site_id = '{SITE}' AND alert_type = 'alert.resolved' GROUP BY alert_id) AS s "
        "ON s.alert_id = r.alert_id"
    )
    out: Table = {}
    for row in rows:
        if row["reason"] != "record_after_deadline":
            out[(row["rule_id"], row["subject_id"])] = "open" if not row["resolved"] else row["reason"] or "resolved"
    return out


def test_a_day_posted_2_and_17_days_late_is_judged_as_replay_judges_it(stack, tmp_path):
    token = stack.create_enterprise(ENTERPRISE)
    today = datetime.now(factories.SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    site = factories.site_registered(enterprise=ENTERPRISE, site=SITE, division="330106", at=today - timedelta(days=40))
    site["payload"].update(handles_international=True, site_kind="international_processing")
    assert stack.post(site, token)[0] == 202
    # Today's first record, on time: once it is stored, the worker's clock has caught up with now.
    now = factories.health_checked(enterprise=ENTERPRISE, site=SITE, at=datetime.now(factories.SHANGHAI))
    assert stack.post(now, token)[0] == 202
    wait_until(lambda: stack.scalar(f"SELECT count() FROM raw_events WHERE event_id = '{now['event_id']}'") == 1)
    days = {"D30": 30, "D17": 17, "D2": 2}
    history = tmp_path / "d30.jsonl"
    lines = [orjson.dumps(body) for body in ledger_of_a_day(today - timedelta(days=30), "D30")]
    unregistered = factories.health_checked(enterprise=ENTERPRISE, site="late-site-99", at=today - timedelta(days=30))
    history.write_bytes(b"\n".join([*lines[:3], orjson.dumps(unregistered), *lines[3:]]) + b"\n")
    env = {"TONGFANG_TOKEN": token, **stack.stack.environment()}
    first = CliRunner().invoke(main, ["import", str(history), "--backfill"], env=env)
    assert first.exit_code == 1, first.output
    assert "9 lines as history: accepted 8, rejected 1" in first.output
    [refused] = [orjson.loads(line) for line in (tmp_path / "d30.jsonl.errors.jsonl").read_bytes().splitlines()]
    assert (refused["line"], refused["status"], refused["field"]) == (4, "rejected", "site_id")
    again = CliRunner().invoke(main, ["import", str(history), "--backfill"], env=env)
    assert "9 lines as history: duplicate 8, rejected 1" in again.output
    for tag in ("D17", "D2"):
        for body in ledger_of_a_day(today - timedelta(days=days[tag]), tag):
            status, answer = stack.post(body, token)  # one event a request, as a branch catching up
            assert status == 202, answer
    expected = (
        {("DIS-COVERAGE", f"{tag}-SHORT"): "open" for tag in days}
        | {("DIS-DOMESTIC", f"{tag}-DOM-LATE"): "action_after_deadline" for tag in days}
        | {("DIS-IMPORT", f"{tag}-IMP-NONE"): "open" for tag in days}
        | {("LEDGER-LATE", (today - timedelta(days=late)).strftime("%Y-%m-%d")): "open" for late in days.values()}
    )
    wait_until(lambda: stored_table(stack) == expected, timeout=90)

    # As history, the back-filled day's batches were judged on their facts: none raised, then resolved.
    raised_then_settled = stack.query(
        "SELECT DISTINCT subject_id FROM alerts WHERE alert_type = 'alert.resolved' "
        f"AND late_reason = 'record_after_deadline' AND site_id = '{SITE}' ORDER BY subject_id"
    )
    assert {row["subject_id"].split("-")[0] for row in raised_then_settled} == {"D17", "D2"}
    assert stack.scalar(f"SELECT countIf(backfill) FROM raw_events WHERE site_id = '{SITE}'") == 8  # the day as history

    since, until = today - timedelta(days=35), datetime.now(factories.SHANGHAI) + timedelta(minutes=1)
    catalogue = load(stack.settings.rule_catalogue or DEFAULT_CATALOGUE)
    from_stored = replay(catalogue, from_warehouse(WorkerReader(stack.settings), since, until), until, since=since)
    from_log = replay(catalogue, from_kafka(stack.settings, since, until), until, since=since)
    assert table_of(from_stored) == expected
    assert table_of(from_log) == expected
    # One LEDGER-LATE per site and day, though every record of both days came late.
    late_days = stack.scalar(
        f"SELECT count() FROM alerts WHERE site_id = '{SITE}' AND rule_id = 'LEDGER-LATE' "
        "AND alert_type = 'alert.raised'"
    )
    assert late_days == 3
