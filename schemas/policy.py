"""Policy family: the epidemic-response level in force for a jurisdiction.

Posted by a regulator, not an enterprise: `enterprise_id` names the issuing authority and `site_id`
is the jurisdiction's division code, so the event is keyed and ordered per jurisdiction.
"""

from __future__ import annotations

from typing import Literal

from schemas.envelope import DivisionCode, Event, Payload

Level = Literal["normal", "response"]


class PolicyLevelChangedPayload(Payload, frozen=True, kw_only=True):
    division_code: DivisionCode
    level: Level


class PolicyLevelChanged(Event, frozen=True, kw_only=True, tag="policy.level_changed"):
    payload: PolicyLevelChangedPayload
