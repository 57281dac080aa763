"""Desk family: what a regulator did with an alert at the console's alert desk (预警处置).

Posted by the regulator service, never by an enterprise: `enterprise_id` and `site_id` are the
alert's own, so the action is keyed, ordered and stored with the site's other facts, and
`payload.regulator_id` names the regulator account that acted. The desk's history is these events:
a replay of the log rebuilds it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from msgspec import Meta

from schemas.envelope import AwareDatetime, Event, Identifier, Payload, ShortText

Note = Annotated[str, Meta(min_length=1, max_length=500, description="Why: what was found or decided.")]


class AlertAcknowledgedPayload(Payload, frozen=True, kw_only=True):
    alert_id: uuid.UUID
    regulator_id: Identifier
    note: ShortText = ""


class AlertAssignedPayload(Payload, frozen=True, kw_only=True):
    """督办: the enterprise is asked to act on the alert by `due`."""

    alert_id: uuid.UUID
    regulator_id: Identifier
    assignee_enterprise_id: Identifier
    due: AwareDatetime
    note: ShortText = ""


class AlertClosedPayload(Payload, frozen=True, kw_only=True):
    alert_id: uuid.UUID
    regulator_id: Identifier
    note: Note


class AlertAcknowledged(Event, frozen=True, kw_only=True, tag="alert.acknowledged"):
    payload: AlertAcknowledgedPayload


class AlertAssigned(Event, frozen=True, kw_only=True, tag="alert.assigned"):
    payload: AlertAssignedPayload


class AlertClosed(Event, frozen=True, kw_only=True, tag="alert.closed"):
    payload: AlertClosedPayload


DESK_EVENTS: tuple[type[Event], ...] = (AlertAcknowledged, AlertAssigned, AlertClosed)
