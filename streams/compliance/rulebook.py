"""Which rules run over which keys: sites (the events' own key) and vehicles (re-keyed)."""

from __future__ import annotations

from schemas.alerts import AnyAlert
from schemas.desk import DESK_EVENTS
from schemas.envelope import Event
from schemas.events import EVENT_CLASSES
from schemas.health import StaffVaccinated
from schemas.policy import PolicyLevelChanged
from schemas.registry import RoutePlanned, SiteRegistered, StaffEnrolled, StaffLeft, VehicleRegistered
from schemas.vehicles import VehicleArrived, VehicleDeparted, VehicleDisinfected, VehicleStopped
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import TRACKED_ALERT_MS, Engine, Position, RuleLogic, State, ms
from streams.compliance.rules import disinfection, ledger, site, staff, vehicles
from streams.compliance.rules.disinfection import Disinfection
from streams.compliance.rules.ledger import LedgerLate
from streams.compliance.rules.site import ActiveDays, Sites
from streams.compliance.rules.staff import Staff
from streams.compliance.rules.vehicles import Vehicles

# Each rule module declares its family's ids; together they are the catalogue's rules (a test holds
# them to it), and the rules' pages in docs/rules/ are generated from them.
FAMILIES = {
    "disinfection": disinfection.FAMILY,
    "site": site.FAMILY,
    "staff": staff.FAMILY,
    "vehicles": vehicles.FAMILY,
    "ledger": ledger.FAMILY,
}

# Records about the registry (and vaccinations, reported in bulk with enrolment) are not the site
# operating that day: they neither arm the daily premises check nor count as back-filled ledgers.
REGISTRY_EVENTS = (
    SiteRegistered,
    StaffEnrolled,
    StaffLeft,
    StaffVaccinated,
    VehicleRegistered,
    RoutePlanned,
    PolicyLevelChanged,
)
# A regulator's action at the alert desk is not the site's record either.
SITE_ACTIVITY: tuple[type[Event], ...] = tuple(
    cls for cls in EVENT_CLASSES if cls not in REGISTRY_EVENTS and cls not in DESK_EVENTS
)
VEHICLE_EVENTS: tuple[type[Event], ...] = (
    RoutePlanned,
    VehicleDeparted,
    VehicleArrived,
    VehicleStopped,
    VehicleDisinfected,
)


def site_engine(catalogue: Catalogue, states: dict[str, State] | None = None) -> Engine:
    logics: list[RuleLogic] = [Sites(), Disinfection(), Staff(), ActiveDays(SITE_ACTIVITY), LedgerLate(SITE_ACTIVITY)]
    return Engine(catalogue, logics, states or {})


def vehicle_engine(catalogue: Catalogue, states: dict[str, State] | None = None) -> Engine:
    return Engine(catalogue, [Vehicles()], states or {})


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
