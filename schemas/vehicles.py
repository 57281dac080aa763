"""Vehicles family: closed-loop line-haul movements."""

from __future__ import annotations

from schemas.envelope import DivisionCode, Event, Identifier, Latitude, Longitude, Payload, Pseudonym, ShortText
from schemas.parcels import DisinfectionMethod


class VehicleDepartedPayload(Payload, frozen=True, kw_only=True):
    vehicle_id: Identifier
    route_id: Identifier
    seal_id: Identifier
    driver_id: Pseudonym


class VehicleDeparted(Event, frozen=True, kw_only=True, tag="vehicle.departed"):
    payload: VehicleDepartedPayload


class VehicleArrivedPayload(Payload, frozen=True, kw_only=True):
    vehicle_id: Identifier
    route_id: Identifier | None = None
    seal_id: Identifier | None = None
    seal_intact: bool


class VehicleArrived(Event, frozen=True, kw_only=True, tag="vehicle.arrived"):
    payload: VehicleArrivedPayload


class VehicleDisinfectedPayload(Payload, frozen=True, kw_only=True):
    vehicle_id: Identifier
    method: DisinfectionMethod
    agent: ShortText


class VehicleDisinfected(Event, frozen=True, kw_only=True, tag="vehicle.disinfected"):
    payload: VehicleDisinfectedPayload


class VehicleStoppedPayload(Payload, frozen=True, kw_only=True):
    vehicle_id: Identifier
    route_id: Identifier
    latitude: Latitude
    longitude: Longitude
    division_code: DivisionCode | None = None
    reason: ShortText | None = None


class VehicleStopped(Event, frozen=True, kw_only=True, tag="vehicle.stopped"):
    payload: VehicleStoppedPayload
