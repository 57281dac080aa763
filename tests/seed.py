"""A day at two sites with every kind of record and violation, stored as the stack stores it:
events through the sink, alerts from the real rule engines through the alert sink."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
import orjson

from schemas import events
from streams.compliance.catalogue import load
from streams.compliance.engine import Position
from streams.compliance.rulebook import site_engine, vehicle_engine, vehicle_of
from streams.records import Record
from streams.row_sink import RowSink, alert_key, alert_row
from streams.sink import Sink
from streams.warehouse import Warehouse
from tests import factories
from tests.factories import BASE_TIME, event

P1, P2, P3, DRIVER = (f"ps_{n:032x}" for n in (1, 2, 3, 4))
SITE_A, SITE_B = "hz-xihu-01", "hz-intl-01"


def at(**delta: float) -> Any:
    return BASE_TIME + timedelta(**delta)


def scenario() -> list[dict[str, Any]]:
    a = {"enterprise": "ent-a", "site": SITE_A}
    b = {"enterprise": "ent-b", "site": SITE_B}
    site_a = factories.site_registered(enterprise="ent-a", site=SITE_A, division="330106", brand="sf", at=at(days=-20))
    site_b = factories.site_registered(enterprise="ent-b", site=SITE_B, division="330109", brand="yt", at=at(days=-20))
    site_b["payload"].update(handles_international=True, site_kind="international_processing")

    def staff(person: str, role: str, **where: str) -> dict[str, Any]:
        return event(
            "staff.enrolled", {"staff_id": person, "role": role, "employer": "direct"}, at=at(days=-10), **where
        )

    def test(person: str, when: Any, result: str = "negative", **where: str) -> dict[str, Any]:
        payload = {"staff_id": person, "test_kind": "nucleic_acid", "sampled_at": when.isoformat(), "result": result}
        return event("staff.tested", payload, at=when, **where)

    def check(person: str, when: Any, temperature: float, **where: str) -> dict[str, Any]:
        payload = {"staff_id": person, "temperature": temperature, "health_code": "green", "symptoms": []}
        return event("staff.health_checked", payload, at=when, **where)

    def received(batch: str, origin: str, when: Any, **where: str) -> dict[str, Any]:
        return factories.parcels_received(batch=batch, origin=origin, count=200, at=when, **where)

    def disinfected(batch: str, when: Any, where: dict[str, str], count: int = 200) -> dict[str, Any]:
        return factories.parcels_disinfected(batch=batch, count=count, at=when, **where)

    route = {
        "route_id": "R-HZ-1",
        "vehicle_id": "ZJ-A12345",
        "stops": [SITE_B, SITE_A],
        "window_start": at().isoformat(),
        "window_end": at(hours=3).isoformat(),
    }
    depart = {"vehicle_id": "ZJ-A12345", "route_id": "R-HZ-1", "seal_id": "SEAL-1", "driver_id": DRIVER}
    return [
        site_a,
        site_b,
        staff(P1, "courier", **a),
        staff(P2, "sorter", **a),
        staff(DRIVER, "driver", **b),
        staff(P3, "international_exposed", **b),
        test(P1, at(days=-9), **a),
        test(P2, at(days=-1), **a),
        test(P3, at(days=-1), **b),
        event("staff.vaccinated", {"staff_id": P2, "dose": 3}, at=at(days=-5), **a),
        event("route.planned", route, at=at(hours=-2), **b),
        event("staff.shift_started", {"staff_id": P1}, at=at(hours=-1), **a),
        check(P2, at(minutes=-30), 38.2, **a),
        event("staff.shift_started", {"staff_id": P2}, at=at(), **a),
        check(P3, at(minutes=-20), 36.4, **b),
        event("staff.shift_started", {"staff_id": P3}, at=at(minutes=-10), **b),
        received("D-1", "domestic", at(), **a),
        disinfected("D-1", at(hours=1), a),
        received("D-2", "domestic", at(minutes=30), **a),
        event("parcels.dispatched", {"batch_id": "D-2", "item_count": 200}, at=at(hours=2), **a),
        received("I-1", "imported", at(), **b),
        disinfected("I-1", at(hours=2), b),
        received("I-2", "imported", at(hours=1), **b),
        received("I-3", "imported", at(), **b),
        disinfected("I-3", at(minutes=20), b, count=150),
        event("parcels.dispatched", {"batch_id": "I-3", "item_count": 150}, at=at(hours=3), **b),
        event("site.disinfected", {"area": "whole_site", "method": "spray", "agent": "过氧乙酸"}, at=at(hours=1), **a),
        event("vehicle.departed", depart, at=at(minutes=30), **b),
        event(
            "vehicle.arrived",
            {"vehicle_id": "ZJ-A12345", "route_id": "R-HZ-1", "seal_intact": False},
            at=at(hours=2),
            **a,
        ),
        event(
            "vehicle.stopped",
            {"vehicle_id": "ZJ-A12345", "route_id": "R-HZ-1", "latitude": 30.2, "longitude": 120.2},
            at=at(hours=1),
            **b,
        ),
        test(P2, at(hours=4), result="positive", **a),
        factories.parcels_received(batch="D-9", at=at(), enterprise="ent-a", site=SITE_A)
        | {"received_at": at(hours=30).isoformat()},
        # The same day's disinfection of it, posted later still: one LEDGER-LATE for the site and day.
        factories.parcels_disinfected(batch="D-9", count=100, at=at(minutes=20), enterprise="ent-a", site=SITE_A)
        | {"received_at": at(hours=40).isoformat()},
    ]


def seed(warehouse: Warehouse) -> dict[str, int]:
    """Store the scenario and the alerts its rules raise by the next day; return counts."""
    bodies = scenario()
    # Each record appended to Kafka as it happened (or when it says it was received: posted late).
    appended = [datetime.fromisoformat(body.get("received_at") or body["occurred_at"]) for body in bodies]
    records = [
        Record("events", 0, n, b"", orjson.dumps(body), int(appended[n].timestamp() * 1000))
        for n, body in enumerate(bodies)
    ]
    Sink(warehouse).write(records)
    catalogue = load()
    sites, vehicles = site_engine(catalogue), vehicle_engine(catalogue)
    alerts = []
    for offset, body in enumerate(bodies):
        parsed = events.decode(orjson.dumps(body))
        alerts += sites.process(parsed.site_id, parsed, Position(offset))
        if vehicle_of(parsed) is not None:
            alerts += vehicles.process(
                vehicle_of(parsed) or "", parsed, Position(offset), sites.states[parsed.site_id].get("site")
            )
    alerts += sites.tick(at(days=1)) + vehicles.tick(at(days=1))
    records = [Record("alerts", 0, n, b"", msgspec.json.encode(alert), 0) for n, alert in enumerate(alerts)]
    RowSink(warehouse, "alerts", alert_row, ("toString(alert_id) || alert_type", alert_key)).write(records)
    return {"events": len(bodies), "alerts": len(alerts)}
