"""Rule state stays bounded over weeks of a simulated city: finished batches, days and loops are released."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from deploy.simulator import SHANGHAI, City
from schemas.clock import encode_tick
from streams.compliance.catalogue import load
from streams.records import Record
from streams.rule_stream import MemoryStore, SiteRules, VehicleRules

START = datetime(2026, 9, 1, tzinfo=SHANGHAI)


def test_state_is_flat_once_past_retention():
    catalogue = load()
    sites, vehicles = SiteRules(catalogue, MemoryStore()), VehicleRules(catalogue, MemoryStore())
    city = City(seed=5, sites=8)
    offset = 0

    def feed(bodies: list[dict[str, object]], now: datetime) -> None:
        nonlocal offset
        stamp = int(now.timestamp() * 1000)
        records = []
        for body in [*bodies, None]:  # the day ends with a clock tick
            value = encode_tick(now) if body is None else orjson.dumps(body)
            records.append(Record("events", 0, offset, b"k", value, stamp))
            offset += 1
        out = sites.handle(records)
        forwarded = [(key, value) for key, value in out.forwards] + out.broadcasts
        vehicles.handle(
            [Record("vehicles", 0, offset + n, key, value, stamp) for n, (key, value) in enumerate(forwarded)]
        )

    feed(city.registrations(START - timedelta(hours=1)), START)
    footprints = {}
    for day in range(100):
        moment = START + timedelta(days=day)
        feed(list(city.events(moment, 24)), moment + timedelta(days=1, hours=1))
        footprints[day + 1] = (sites.footprint(), vehicles.footprint())

    def mean(days: range, side: int, field: str) -> float:
        return sum(footprints[day][side][field] for day in days) / len(days)

    middle, end = range(66, 81), range(86, 101)  # past every retention (the 62-day horizon), days apart
    assert mean(middle, 0, "state_bytes") > 100_000  # it does hold something: batches, people, checks
    # Violations come and go at random: a few alerts more or less. Four vehicles hold a few hundred
    # bytes each, which vary more than eight sites' state.
    checks = [(0, "state_bytes", 1.1), (0, "timers", 1.25), (0, "open_alerts", 1.25), (1, "state_bytes", 1.3)]
    for side, field, slack in checks:
        assert mean(end, side, field) < slack * mean(middle, side, field), (side, field, footprints[100])
