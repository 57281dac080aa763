"""Feeds events through the site and vehicle engines as the stream worker does, in log order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import yaml

from schemas import events
from schemas.alerts import AlertRaised, AlertResolved, AnyAlert
from schemas.policy import PolicyLevelChanged
from streams.compliance.catalogue import DEFAULT_CATALOGUE, Catalogue, load, parse
from streams.compliance.engine import Position
from streams.compliance.rulebook import site_engine, vehicle_engine, vehicle_of
from tests import factories

T0 = factories.BASE_TIME


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


class Harness:
    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or load()
        self.sites = site_engine(self.catalogue)
        self.vehicles = vehicle_engine(self.catalogue)
        self.offset = 0
        self.alerts: list[AnyAlert] = []

    def feed(self, *bodies: dict[str, Any], received: datetime | None = None) -> list[AnyAlert]:
        produced: list[AnyAlert] = []
        for body in bodies:
            if received is not None:
                body = {**body, "received_at": received.isoformat()}
            event = events.decode(orjson.dumps(body))
            position = Position(self.offset)
            self.offset += 1
            produced += self.sites.process(event.site_id, event, position)
            vehicle = vehicle_of(event)
            if isinstance(event, PolicyLevelChanged):  # broadcast to every vehicles partition
                produced += self.vehicles.process(event.site_id, event, position)
            elif vehicle is not None:
                site = self.sites.states[event.site_id].get("site")
                produced += self.vehicles.process(vehicle, event, position, site)
        self.alerts += produced
        return produced

    def tick(self, moment: datetime) -> list[AnyAlert]:
        produced = self.sites.tick(moment) + self.vehicles.tick(moment)
        self.alerts += produced
        return produced

    def raised(self, rule_id: str) -> list[AlertRaised]:
        return [a for a in self.alerts if isinstance(a, AlertRaised) and a.rule_id == rule_id]

    def resolved(self, rule_id: str) -> list[AlertResolved]:
        return [a for a in self.alerts if isinstance(a, AlertResolved) and a.rule_id == rule_id]


def site(
    international: bool = False, division: str = "330106", site_id: str = "site-a1", since: datetime | None = None
) -> dict[str, Any]:
    body = factories.site_registered(site=site_id, division=division, at=since or at(days=-30))
    body["payload"]["handles_international"] = international
    return body


def ev(event_type: str, payload: dict[str, Any], when: datetime, site_id: str = "site-a1") -> dict[str, Any]:
    return factories.event(event_type, payload, site=site_id, at=when)


def policy(level: str, when: datetime, division: str = "330100") -> dict[str, Any]:
    return factories.event(
        "policy.level_changed",
        {"division_code": division, "level": level},
        enterprise="post-330100",
        site=division,
        at=when,
    )


def catalogue_with(rule_id: str, **limits: Any) -> Catalogue:
    """The catalogue with `rule_id`'s limits changed in both profiles (a stricter city's catalogue)."""
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    for profile in ("normal", "response"):
        raw["rules"][rule_id][profile] |= limits
    return parse(raw, "test")
