from __future__ import annotations

import orjson
import yaml

from schemas import events
from schemas.alerts import AlertRaised
from streams.compliance.catalogue import DEFAULT_CATALOGUE, load, parse
from streams.compliance.replay import LogEntry, compare, replay
from tests import factories
from tests.unit.rules_harness import at
from tests.unit.test_rules_determinism import a_day_of_events


def log_of(seed: int) -> list[LogEntry]:
    return [LogEntry(0, offset, 0, event) for offset, event in enumerate(a_day_of_events(seed))]


def test_replay_is_deterministic_and_settles_everything_due_by_the_end():
    catalogue, log = load(), log_of(3)
    first = replay(catalogue, log, at(days=3))
    assert first == replay(catalogue, log, at(days=3))
    assert {a.rule_id for a in first if isinstance(a, AlertRaised)} >= {"DIS-IMPORT", "DIS-DOMESTIC"}


def test_what_if_a_shorter_domestic_deadline_adds_alerts_at_named_sites():
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    raw["version"] = "what-if-2h"
    raw["rules"]["DIS-DOMESTIC"]["normal"]["deadline"] = "2h"
    stricter = parse(raw)
    log = log_of(5)
    base = replay(load(), log, at(days=3))
    differences = compare(base, replay(stricter, log, at(days=3)))
    [domestic] = [d for d in differences if d.rule_id == "DIS-DOMESTIC"]
    assert domestic.added > 0
    assert domestic.removed == 0
    assert {site for site, _ in domestic.sites} <= {"s0", "s1", "s2"}
    assert compare(base, base) == []


def test_events_of_another_enterprise_are_not_evaluated_in_replay():
    bodies = [
        factories.site_registered(enterprise="ent-a", at=at(days=-1)),
        factories.parcels_received(enterprise="ent-b", origin="imported", at=at()),
    ]
    log = [LogEntry(0, n, 0, events.decode(orjson.dumps(b))) for n, b in enumerate(bodies)]
    assert replay(load(), log, at(days=1)) == []
