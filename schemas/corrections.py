"""Corrections family: an event is never changed, it is voided by a later one."""

from __future__ import annotations

import uuid
from typing import Annotated

from msgspec import Meta

from schemas.envelope import Event, Payload


class EventVoidedPayload(Payload, frozen=True, kw_only=True):
    voided_event_id: uuid.UUID
    reason: Annotated[str, Meta(min_length=1, max_length=500)]


class EventVoided(Event, frozen=True, kw_only=True, tag="event.voided"):
    payload: EventVoidedPayload
