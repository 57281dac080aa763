"""Which rules run over which keys: sites (the events' own key) and vehicles (re-keyed)."""

from __future__ import annotations

from schemas.envelope import Event
from schemas.events import EVENT_CLASSES
from schemas.health import StaffVaccinated
from schemas.policy import PolicyLevelChanged
from schemas.registry import RoutePlanned, SiteRegistered, StaffEnrolled, StaffLeft, VehicleRegistered
from schemas.vehicles import VehicleArrived, VehicleDeparted, VehicleDisinfected, VehicleStopped
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import Engine, RuleLogic, State
from streams.compliance.rules.disinfection import Disinfection
from streams.compliance.rules.ledger import LedgerLate
from streams.compliance.rules.site import ActiveDays, Sites
from streams.compliance.rules.staff import Staff
from streams.compliance.rules.vehicles import Vehicles

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
SITE_ACTIVITY: tuple[type[Event], ...] = tuple(cls for cls in EVENT_CLASSES if cls not in REGISTRY_EVENTS)
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
