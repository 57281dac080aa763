"""Desk family: what a regulator did at the console: an alert's acknowledgement, assignment and
closure at the alert desk (预警处置), and a reminder to a site that has not reported (未报送).

Posted by the regulator service, never by an enterprise: `enterprise_id` and `site_id` are the
alert's own, so the action is keyed, ordered and stored with the site's other facts, and
`payload.regulator_id` names the regulator account that acted. The desk's history is these events:
a replay of the log rebuilds it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

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


class SiteRemindedPayload(Payload, frozen=True, kw_only=True):
    """未报送: the regulator reminded the site's enterprise of records missing for a day."""

    regulator_id: Identifier
    day: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The local day the records are missing for.")]
    missing: Annotated[list[Literal["staff_checks", "parcel_records"]], Meta(min_length=1, max_length=2)]
    note: ShortText = ""


class AlertAcknowledged(Event, frozen=True, kw_only=True, tag="alert.acknowledged"):
    payload: AlertAcknowledgedPayload


class AlertAssigned(Event, frozen=True, kw_only=True, tag="alert.assigned"):
    payload: AlertAssignedPayload


class AlertClosed(Event, frozen=True, kw_only=True, tag="alert.closed"):
    payload: AlertClosedPayload


class SiteReminded(Event, frozen=True, kw_only=True, tag="site.reminded"):
    payload: SiteRemindedPayload


DESK_EVENTS: tuple[type[Event], ...] = (AlertAcknowledged, AlertAssigned, AlertClosed, SiteReminded)
