"""Community family: anomalies couriers report from the grid (流动网格员 / 移动吹哨员)."""

from __future__ import annotations

from typing import Literal

from schemas.envelope import DivisionCode, Event, Identifier, Payload, ShortText

AnomalyCategory = Literal[
    "unregistered_arrival", "crowding", "sick_resident", "closed_area_breach", "parcel_hazard", "other"
]


class AnomalyReportedPayload(Payload, frozen=True, kw_only=True):
    category: AnomalyCategory
    description: ShortText
    community: ShortText
    grid_id: Identifier | None = None
    division_code: DivisionCode | None = None


class AnomalyReported(Event, frozen=True, kw_only=True, tag="anomaly.reported"):
    payload: AnomalyReportedPayload
