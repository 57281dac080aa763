"""Which events are a site's own activity, and which are about the registry or a vehicle.

Records about the registry (and vaccinations, reported in bulk with enrolment) are not the site
operating that day: they neither arm the daily premises check nor count as back-filled ledgers;
a regulator's action at the alert desk is not the site's record either.
"""

from __future__ import annotations

from schemas.desk import DESK_EVENTS
from schemas.envelope import Event
from schemas.events import EVENT_CLASSES
from schemas.health import StaffVaccinated
from schemas.policy import PolicyLevelChanged
from schemas.registry import RoutePlanned, SiteRegistered, StaffEnrolled, StaffLeft, VehicleRegistered
from schemas.vehicles import VehicleArrived, VehicleDeparted, VehicleDisinfected, VehicleStopped

REGISTRY_EVENTS = (
    SiteRegistered,
    StaffEnrolled,
    StaffLeft,
    StaffVaccinated,
    VehicleRegistered,
    RoutePlanned,
    PolicyLevelChanged,
)
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
