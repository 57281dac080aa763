"""Valid events as plain dicts (what a sender posts), one builder per event type."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALERT_ID = "3f1c0d9e-5b6a-5f1e-9d0a-6c1b2a3d4e5f"
BASE_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
PSEUDONYM = "ps_0123456789abcdef0123456789abcdef"
DRIVER = "ps_fedcba9876543210fedcba9876543210"


def event(
    event_type: str,
    payload: dict[str, Any],
    *,
    enterprise: str = "ent-a",
    site: str = "site-a1",
    at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": (at or BASE_TIME).isoformat(),
        "enterprise_id": enterprise,
        "site_id": site,
        "payload": payload,
    }


def site_registered(
    enterprise: str = "ent-a", site: str = "site-a1", division: str = "330106", **kw: Any
) -> dict[str, Any]:
    payload = {
        "brand": kw.pop("brand", "brand-a"),
        "operation": "franchise",
        "site_kind": "outlet",
        "division_code": division,
        "name": "文三路网点",
        "latitude": 30.28,
        "longitude": 120.13,
        "handles_international": False,
    }
    return event("site.registered", payload, enterprise=enterprise, site=site, **kw)


def parcels_received(batch: str = "B1", count: int = 100, origin: str = "domestic", **kw: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"batch_id": batch, "item_count": count, "origin": origin}
    if origin == "imported":
        payload["origin_country"] = "KR"
    return event("parcels.received", payload, **kw)


def parcels_disinfected(batch: str = "B1", count: int = 100, **kw: Any) -> dict[str, Any]:
    payload = {
        "batch_id": batch,
        "item_count": count,
        "method": "spray",
        "agent": "含氯消毒液",
        "operator_id": PSEUDONYM,
    }
    return event("parcels.disinfected", payload, **kw)


def parcels_dispatched(batch: str = "B1", count: int = 100, **kw: Any) -> dict[str, Any]:
    return event("parcels.dispatched", {"batch_id": batch, "item_count": count}, **kw)


def health_checked(temperature: float = 36.5, code: str = "green", **kw: Any) -> dict[str, Any]:
    payload = {"staff_id": PSEUDONYM, "temperature": temperature, "health_code": code, "symptoms": []}
    return event("staff.health_checked", payload, **kw)


def examples() -> dict[str, dict[str, Any]]:
    """One valid event of every type."""
    later = (BASE_TIME + timedelta(hours=4)).isoformat()
    return {
        "site.registered": site_registered(),
        "staff.enrolled": event(
            "staff.enrolled",
            {"staff_id": PSEUDONYM, "role": "courier", "employer": "labour_dispatch", "agency_id": "agency-1"},
        ),
        "staff.left": event("staff.left", {"staff_id": PSEUDONYM}),
        "vehicle.registered": event("vehicle.registered", {"vehicle_id": "V-1", "vehicle_kind": "line_haul"}),
        "route.planned": event(
            "route.planned",
            {
                "route_id": "R-1",
                "vehicle_id": "V-1",
                "stops": ["site-a1", "site-a2"],
                "window_start": BASE_TIME.isoformat(),
                "window_end": later,
            },
        ),
        "staff.health_checked": health_checked(),
        "staff.tested": event(
            "staff.tested",
            {
                "staff_id": PSEUDONYM,
                "test_kind": "nucleic_acid",
                "sampled_at": BASE_TIME.isoformat(),
                "result": "negative",
            },
        ),
        "staff.vaccinated": event("staff.vaccinated", {"staff_id": PSEUDONYM, "dose": 3}),
        "staff.shift_started": event("staff.shift_started", {"staff_id": PSEUDONYM}),
        "parcels.received": parcels_received(origin="imported"),
        "parcels.disinfected": parcels_disinfected(),
        "parcels.dispatched": event("parcels.dispatched", {"batch_id": "B1", "item_count": 100}),
        "site.disinfected": event("site.disinfected", {"area": "whole_site", "method": "spray", "agent": "过氧乙酸"}),
        "site.environment_sampled": event("site.environment_sampled", {"area": "international", "result": "negative"}),
        "site.inspected": event("site.inspected", {"inspector_authority": "post-330100", "passed": True}),
        "vehicle.departed": event(
            "vehicle.departed", {"vehicle_id": "V-1", "route_id": "R-1", "seal_id": "SEAL-9", "driver_id": DRIVER}
        ),
        "vehicle.arrived": event("vehicle.arrived", {"vehicle_id": "V-1", "route_id": "R-1", "seal_intact": True}),
        "vehicle.disinfected": event("vehicle.disinfected", {"vehicle_id": "V-1", "method": "spray", "agent": "84"}),
        "vehicle.stopped": event(
            "vehicle.stopped", {"vehicle_id": "V-1", "route_id": "R-1", "latitude": 30.1, "longitude": 120.2}
        ),
        "anomaly.reported": event(
            "anomaly.reported",
            {"category": "crowding", "description": "小区门口聚集", "community": "文三新村", "grid_id": "G-12"},
        ),
        "event.voided": event("event.voided", {"voided_event_id": str(uuid.uuid4()), "reason": "录入错误"}),
        "policy.level_changed": event(
            "policy.level_changed", {"division_code": "330100", "level": "response"}, enterprise="post-330100"
        ),
        "alert.acknowledged": event("alert.acknowledged", {"alert_id": ALERT_ID, "regulator_id": "post-3301"}),
        "alert.assigned": event(
            "alert.assigned",
            {"alert_id": ALERT_ID, "regulator_id": "post-3301", "assignee_enterprise_id": "ent-a", "due": later},
        ),
        "alert.closed": event("alert.closed", {"alert_id": ALERT_ID, "regulator_id": "post-3301", "note": "已整改"}),
        "site.reminded": event(
            "site.reminded", {"regulator_id": "post-3301", "day": "2026-11-23", "missing": ["staff_checks"]}
        ),
    }
