from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import orjson

from deploy.simulator import SHANGHAI, City, Violations
from schemas import events
from schemas.alerts import AlertRaised
from streams.compliance.catalogue import load
from streams.compliance.replay import LogEntry, replay

START = datetime(2026, 11, 23, tzinfo=SHANGHAI)


def run(city: City, days: float) -> list[AlertRaised]:
    bodies = [*city.registrations(START - timedelta(days=1)), *city.events(START, days * 24)]
    log = [LogEntry(0, n, 0, events.decode(orjson.dumps(body))) for n, body in enumerate(bodies)]
    return [a for a in replay(load(), log, START + timedelta(days=days)) if isinstance(a, AlertRaised)]


def test_same_seed_same_events_and_every_event_is_valid():
    first = list(City(5, sites=20).events(START, 24))
    assert first == list(City(5, sites=20).events(START, 24))
    assert first != list(City(6, sites=20).events(START, 24))
    for body in first:
        events.decode(orjson.dumps(body))
    assert {
        body["payload"]["division_code"][:4]
        for body in City(5, 20).registrations(START)
        if body["event_type"] == "site.registered"
    } == {"3301"}


def test_a_city_without_violations_raises_no_alerts():
    assert run(City(3, sites=30, violations=Violations.none()), days=2) == []


def test_violation_rates_show_up_as_alerts_of_the_matching_rules():
    heavy = Violations(missed_disinfection=0.3, missed_check=0.2, fever=0.05, broken_seal=0.5, premises_once=0.5)
    rules = Counter(alert.rule_id for alert in run(City(3, sites=30, violations=heavy), days=2))
    assert rules["DIS-DOMESTIC"] + rules["DIS-IMPORT"] > 0
    assert rules["STAFF-CHECK"] > 0
    assert rules["STAFF-FEVER"] > 0
    assert rules["VEH-SEAL"] > 0
    assert rules["SITE-DISINFECT"] > 0


def test_no_raw_id_number_leaves_the_simulator():
    for body in City(2, sites=10).registrations(START):
        text = orjson.dumps(body).decode()
        events.decode(text.encode())  # would raise on anything shaped like an ID-card number


def test_party_branches_vouch_for_their_zone_and_members_report_anomalies():
    city = City(5, sites=40)
    assert city.branches
    zones = [set(branch.zone) for branch in city.branches]
    assert all(len(zone) >= 2 for zone in zones)
    assert sum(len(zone) for zone in zones) == len(set().union(*zones))  # a site is in one zone at most
    branch_of = {site: branch.branch_id for branch in city.branches for site in branch.zone}
    members = {person: branch.branch_id for branch in city.branches for person, _ in branch.members}
    bodies = list(city.events(START, 72))
    for body in bodies:
        assert body.get("party_branch_id") == branch_of.get(body["site_id"])
    reports = [body for body in bodies if body["event_type"] == "anomaly.reported"]
    assert len(reports) > 5
    for report in reports:
        assert members[report["actor_id"]] == report["party_branch_id"]
        assert report["payload"]["division_code"].startswith(city.site(report["site_id"]).division_code)
        assert len(report["payload"]["division_code"]) == 9  # a street
        events.decode(orjson.dumps(report))


def test_a_history_that_starts_mid_day_holds_no_half_batches():
    """A back-fill from 10:00 leaves out the batches received before it whole, so the demo city does
    not open with dispatches of batches it never received; without the cut there are such records."""
    city = City(seed=3, sites=12)
    start = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)

    def orphans(history_from: datetime | None) -> set[str]:
        events = list(city.events(start, 14, history_from))
        received = {e["payload"]["batch_id"] for e in events if e["event_type"] == "parcels.received"}
        later = {
            e["payload"]["batch_id"] for e in events if e["event_type"] in ("parcels.disinfected", "parcels.dispatched")
        }
        return later - received

    assert orphans(None)
    assert orphans(start) == set()
