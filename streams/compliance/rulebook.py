"""Which rules run over which keys: sites (the events' own key) and vehicles (re-keyed), built from
the families the rule modules declare (`streams.compliance.rules.FAMILIES`)."""

from __future__ import annotations

from schemas.alerts import AnyAlert
from schemas.envelope import Event
from schemas.policy import PolicyLevelChanged
from schemas.registry import RoutePlanned, SiteRegistered
from streams.compliance.activity import VEHICLE_EVENTS
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import TRACKED_ALERT_MS, Engine, Position, RuleLogic, State, ms
from streams.compliance.rules import FAMILIES


def logics(key: str) -> list[RuleLogic]:
    """The logic of every family over `key`, in the order of `FAMILIES` (the site family first:
    it records who the site is before the other families read it)."""
    return [make() for family in FAMILIES.values() if family.key == key for make in family.logics]


def site_engine(catalogue: Catalogue, states: dict[str, State] | None = None) -> Engine:
    return Engine(catalogue, logics("site"), states or {})


def vehicle_engine(catalogue: Catalogue, states: dict[str, State] | None = None) -> Engine:
    return Engine(catalogue, logics("vehicle"), states or {})


def vehicle_of(event: Event) -> str | None:
    """The vehicle an event is about, when the vehicle rules need it."""
    if isinstance(event, RoutePlanned):
        return event.payload.vehicle_id
    if isinstance(event, VEHICLE_EVENTS):
        return str(event.payload.vehicle_id)  # type: ignore[attr-defined]
    return None


def admissible(event: Event, site: State | None) -> bool:
    """The sink's rule, applied before evaluating: a registered site, posted for by its own enterprise."""
    if site is None:
        return isinstance(event, SiteRegistered)
    return bool(site["enterprise_id"] == event.enterprise_id)


def evaluate_site_event(
    engine: Engine, event: Event, position: Position, origin: str | None = None
) -> list[AnyAlert] | None:
    """Fold `event` into a site engine if the sink stores it (a policy change, or an event of a
    registered site posted for by its own enterprise); None when it is left out. An event posted
    before its site's registration stays out also when read again after a crash, from a saved state
    that already holds the registration. A re-keyed copy (`origin`: where it was first appended) is
    folded once, though a crash between re-keying and the commit writes a second copy."""
    if isinstance(event, PolicyLevelChanged):
        return engine.process(event.site_id, event, position)
    state = engine.states.get(event.site_id, {})
    site = state.get("site")
    if not admissible(event, site) or position.as_list() < state.get("registered", [-1, -1]):
        return None
    if origin is not None:  # a re-keyed copy: once, though a crash may have re-keyed it twice
        rekeyed = state.setdefault("rekeyed", {})
        if origin in rekeyed:
            return None
        rekeyed[origin] = ms(event.occurred_at)
        horizon = engine.watermark - TRACKED_ALERT_MS
        for old in [name for name, at in rekeyed.items() if at < horizon]:
            del rekeyed[old]
    alerts = engine.process(event.site_id, event, position)
    if site is None:  # this event registered the site
        engine.states[event.site_id]["registered"] = position.as_list()
    return alerts
