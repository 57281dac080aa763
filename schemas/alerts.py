"""Alerts are events too: `alert.raised` and `alert.resolved`, on the alerts topic.

`alert_id` is a UUID derived from the rule, the subject and the deadline, so replaying the same
log raises the same ids and every consumer can drop a repeat.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

from schemas.envelope import AwareDatetime

SubjectKind = Literal["batch", "staff", "vehicle", "site", "event", "route"]


class Alert(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="alert_type"):
    alert_id: str
    rule_id: str
    catalogue_version: str
    severity: Literal["critical", "major", "minor"]
    enterprise_id: str
    site_id: str
    division_code: str
    subject_kind: SubjectKind
    subject_id: str
    at: AwareDatetime
    evidence: list[str]


class AlertRaised(Alert, frozen=True, kw_only=True, tag="alert.raised"):
    profile: Literal["normal", "response"]
    deadline: AwareDatetime
    title_zh: str
    details: dict[str, Any]


class AlertResolved(Alert, frozen=True, kw_only=True, tag="alert.resolved"):
    late: bool
    late_reason: Literal["record_after_deadline", "action_after_deadline"] | None = None


AnyAlert = AlertRaised | AlertResolved
