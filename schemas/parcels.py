"""Parcels family: batches received, disinfected and dispatched."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from schemas.envelope import Count, CountryCode, Event, Identifier, Payload, Pseudonym, ShortText

DisinfectionMethod = Literal["spray", "wipe", "uv", "fumigation"]


class ParcelsReceivedPayload(Payload, frozen=True, kw_only=True):
    batch_id: Identifier
    item_count: Count
    origin: Literal["domestic", "imported"]
    origin_country: CountryCode | None = None
    from_outside_city: bool = True
    vehicle_id: Identifier | None = None
    trip_id: Identifier | None = None

    def __post_init__(self) -> None:
        if self.origin == "imported" and self.origin_country is None:
            raise ValueError("origin_country is required when origin is imported")
        if self.origin == "domestic" and self.origin_country not in (None, "CN"):
            raise ValueError("origin_country must be CN or absent when origin is domestic")


class ParcelsReceived(Event, frozen=True, kw_only=True, tag="parcels.received"):
    payload: ParcelsReceivedPayload


class ParcelsDisinfectedPayload(Payload, frozen=True, kw_only=True):
    batch_id: Identifier
    item_count: Count
    method: DisinfectionMethod
    agent: ShortText
    operator_id: Pseudonym
    inspector_id: Pseudonym | None = None
    all_six_faces: bool = True


class ParcelsDisinfected(Event, frozen=True, kw_only=True, tag="parcels.disinfected"):
    payload: ParcelsDisinfectedPayload


class ParcelsDispatchedPayload(Payload, frozen=True, kw_only=True):
    batch_id: Identifier
    item_count: Count
    destination_site_id: Identifier | None = None
    override_reason: (
        Annotated[
            str,
            Meta(
                min_length=2,
                max_length=500,
                description="Why the batch left although the dispatch gate (四无不出) stopped it: no disinfection "
                "on record, or an imported batch inside its rest period. The rules still judge the dispatch; "
                "the reason goes with the alert to the regulator.",
            ),
        ]
        | None
    ) = None


class ParcelsDispatched(Event, frozen=True, kw_only=True, tag="parcels.dispatched"):
    payload: ParcelsDispatchedPayload


class PremisesDisinfectedPayload(Payload, frozen=True, kw_only=True):
    area: Literal["international", "domestic", "whole_site"]
    method: DisinfectionMethod
    agent: ShortText


class PremisesDisinfected(Event, frozen=True, kw_only=True, tag="site.disinfected"):
    """The site's premises were disinfected (SITE-DISINFECT counts these per day)."""

    payload: PremisesDisinfectedPayload


class EnvironmentSampledPayload(Payload, frozen=True, kw_only=True):
    area: Literal["international", "domestic"]
    result: Literal["negative", "positive", "pending"]


class EnvironmentSampled(Event, frozen=True, kw_only=True, tag="site.environment_sampled"):
    payload: EnvironmentSampledPayload


class SiteInspectedPayload(Payload, frozen=True, kw_only=True):
    inspector_authority: Identifier
    passed: bool


class SiteInspected(Event, frozen=True, kw_only=True, tag="site.inspected"):
    payload: SiteInspectedPayload
