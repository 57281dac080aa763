"""Registry family: sites, staff, vehicles and closed-loop routes."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from schemas.envelope import (
    AwareDatetime,
    DivisionCode,
    Event,
    Identifier,
    Latitude,
    Longitude,
    Name,
    Payload,
    Pseudonym,
)

SiteKind = Literal["sorting_centre", "outlet", "station", "international_processing"]
Operation = Literal["direct", "franchise", "partner"]
StaffRole = Literal["courier", "sorter", "driver", "international_handler", "international_exposed", "other_logistics"]
Employer = Literal["direct", "franchise", "labour_dispatch"]


class SiteRegisteredPayload(Payload, frozen=True, kw_only=True):
    brand: Identifier
    operation: Operation
    site_kind: SiteKind
    division_code: DivisionCode
    name: Name
    latitude: Latitude
    longitude: Longitude
    handles_international: bool = False


class SiteRegistered(Event, frozen=True, kw_only=True, tag="site.registered"):
    payload: SiteRegisteredPayload


class StaffEnrolledPayload(Payload, frozen=True, kw_only=True):
    staff_id: Pseudonym
    role: StaffRole
    employer: Employer
    agency_id: Identifier | None = None
    vetted: bool = True


class StaffEnrolled(Event, frozen=True, kw_only=True, tag="staff.enrolled"):
    payload: StaffEnrolledPayload


class StaffLeftPayload(Payload, frozen=True, kw_only=True):
    staff_id: Pseudonym


class StaffLeft(Event, frozen=True, kw_only=True, tag="staff.left"):
    payload: StaffLeftPayload


class VehicleRegisteredPayload(Payload, frozen=True, kw_only=True):
    vehicle_id: Identifier
    vehicle_kind: Literal["line_haul", "van", "tricycle"]
    capacity_parcels: Annotated[int, Meta(gt=0, le=1_000_000)] | None = None


class VehicleRegistered(Event, frozen=True, kw_only=True, tag="vehicle.registered"):
    payload: VehicleRegisteredPayload


class RoutePlannedPayload(Payload, frozen=True, kw_only=True):
    route_id: Identifier
    vehicle_id: Identifier
    stops: Annotated[list[Identifier], Meta(min_length=2, max_length=50, description="Site ids, in order.")]
    window_start: AwareDatetime
    window_end: AwareDatetime

    def __post_init__(self) -> None:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")


class RoutePlanned(Event, frozen=True, kw_only=True, tag="route.planned"):
    payload: RoutePlannedPayload
