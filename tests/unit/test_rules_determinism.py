"""Replaying the same log gives the same alerts, byte for byte, also through recovered state."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import msgspec
import orjson

from schemas import events
from streams.compliance.catalogue import load
from streams.compliance.engine import Position
from streams.compliance.rulebook import site_engine
from tests import factories
from tests.factories import PSEUDONYM
from tests.unit.rules_harness import at

CATALOGUE = load()


def a_day_of_events(seed: int) -> list[events.AnyEvent]:
    """A seeded, messy day at three sites: some batches disinfected late or never, late records."""
    rng = random.Random(seed)
    bodies = [factories.site_registered(site=f"s{n}", at=at(days=-40)) for n in range(3)]
    for n in range(120):
        site = f"s{n % 3}"
        when = at(minutes=n * 7)
        origin = rng.choice(["imported", "domestic"])
        bodies.append(factories.parcels_received(batch=f"B{n}", origin=origin, site=site, at=when))
        if rng.random() < 0.8:
            delay = timedelta(minutes=rng.randint(5, 300))
            bodies.append(factories.parcels_disinfected(batch=f"B{n}", site=site, at=when + delay))
        if rng.random() < 0.3:
            bodies.append(factories.health_checked(temperature=rng.choice([36.5, 37.9]), site=site, at=when))
        if rng.random() < 0.2:
            bodies.append(factories.event("staff.shift_started", {"staff_id": PSEUDONYM}, site=site, at=when))
    rng.shuffle(bodies[3:])  # out of order, beyond the allowed lateness too
    return [events.decode(orjson.dumps(body)) for body in bodies]


def run(stream: list[events.AnyEvent], cut: int | None = None) -> bytes:
    engine = site_engine(CATALOGUE)
    alerts = []
    for offset, event in enumerate(stream):
        if offset == cut:  # a worker dies: its state comes back from the changelog as JSON
            engine = site_engine(CATALOGUE, orjson.loads(orjson.dumps(engine.states)))
            for replayed in range(max(0, offset - 10), offset):  # uncommitted records are replayed
                alerts += engine.process(stream[replayed].site_id, stream[replayed], Position(replayed))
        alerts += engine.process(event.site_id, event, Position(offset))
    alerts += engine.flush(int((at(days=20)).timestamp() * 1000))
    return b"\n".join(msgspec.json.encode(alert) for alert in alerts)


def run_in_fresh_process(stream: list[events.AnyEvent], hash_seed: int, tmp_path: Path) -> bytes:
    """`run` in a new interpreter with its own PYTHONHASHSEED: set and dict orders that depend on
    string hashes differ between the two, as they would between two workers."""
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(events.encode(event) for event in stream))
    code = (
        "import sys; from pathlib import Path; from schemas import events; "
        "from tests.unit.test_rules_determinism import run; "
        "stream = [events.decode(line) for line in Path(sys.argv[1]).read_bytes().splitlines()]; "
        "sys.stdout.buffer.write(run(stream))"
    )
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run([sys.executable, "-c", code, str(log)], env=env, capture_output=True, check=True)
    return done.stdout


def test_the_same_log_gives_byte_identical_alerts_in_two_processes_with_different_hash_seeds(tmp_path):
    stream = a_day_of_events(7)  # built once: the same event ids in both runs
    first, second = run_in_fresh_process(stream, 1, tmp_path), run_in_fresh_process(stream, 2, tmp_path)
    assert first == second
    assert first.count(b'"alert.raised"') > 10
    assert first == run(stream)


def test_state_recovered_mid_stream_with_replayed_records_gives_the_same_alerts():
    stream = a_day_of_events(11)
    assert run(stream, cut=len(stream) // 2) == run(stream)


def findings(stream: list[events.AnyEvent]) -> set[tuple[str, str, str, str]]:
    """What the alerts say without the ids that make two builds of a day differ trivially (alert
    and event ids are fresh uuids in each build)."""
    alerts = [orjson.loads(line) for line in run(stream).splitlines()]
    return {(a["alert_type"], a["rule_id"], a["subject_id"], a.get("deadline") or a["at"]) for a in alerts}


def test_different_logs_give_different_findings_and_the_same_log_built_twice_the_same():
    assert findings(a_day_of_events(1)) == findings(a_day_of_events(1))  # fresh ids, same facts
    assert findings(a_day_of_events(1)) != findings(a_day_of_events(2))
