"""Deciding each posted event's fate, and packing the accepted ones into Kafka records.

Pure of I/O except the registry lookups: validation, credentials against the envelope, site
ownership, and duplicate ids, in the order the events were posted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from schemas import events
from schemas.desk import DESK_EVENTS
from schemas.policy import PolicyLevelChanged
from schemas.registry import RoutePlanned, SiteRegistered, StaffEnrolled, StaffLeft, VehicleRegistered
from services.registry import Enterprise, Operator, Registry
from streams.topics import by_partition

# What only the enterprise posts: a site operator records what happens at its sites, not who works there.
REGISTRY_EVENTS = (SiteRegistered, StaffEnrolled, StaffLeft, VehicleRegistered, RoutePlanned)

Status = Literal["accepted", "duplicate", "rejected", "failed"]
Problem = Literal["invalid", "forbidden", "conflict", "unavailable"]


class Outcome(msgspec.Struct, omit_defaults=True):
    """What happened to one posted event."""

    index: int
    status: Status
    event_id: str | None = None
    field: str | None = None
    reason: str | None = None
    problem: Problem | None = None


class IngestResponse(msgspec.Struct):
    accepted: int
    duplicates: int
    rejected: int
    failed: int
    results: list[Outcome]


@dataclass(frozen=True)
class KafkaRecord:
    key: bytes
    value: bytes
    partition: int
    indexes: list[int]
    event_ids: list[uuid.UUID]


@dataclass
class Intake:
    outcomes: list[Outcome]
    accepted: list[tuple[int, events.AnyEvent]] = field(default_factory=list)


def assess(
    raws: list[msgspec.Raw],
    enterprise: Enterprise,
    registry: Registry,
    in_flight: set[uuid.UUID],
    now: datetime | None = None,
    max_age: timedelta = timedelta(days=400),
    operator: Operator | None = None,
) -> Intake:
    """Validate every event and check it may be stored; claim the sites it registers. Events an
    `operator` posts must be for its sites and not registry events; they carry its pseudonym."""
    window = events.TimeWindow(now or datetime.now(UTC), max_age)
    outcomes: list[Outcome | None] = [None] * len(raws)
    valid: list[tuple[int, events.AnyEvent]] = []
    for index, raw in enumerate(raws):
        try:
            event = events.decode(raw)
            window.check(event)
        except events.InvalidEvent as exc:
            outcomes[index] = _rejected(index, events.event_id_of(raw), exc.field, exc.reason, "invalid")
            continue
        problem = _envelope_problem(event, enterprise) or (operator and _operator_problem(event, operator))
        if problem:
            outcomes[index] = _rejected(index, str(event.event_id), *problem, "forbidden")
            continue
        if operator is not None:
            event = msgspec.structs.replace(event, actor_id=operator.actor_id)
        valid.append((index, event))

    me = enterprise.enterprise_id
    owners = registry.site_owners(event.site_id for _, event in valid)
    known = registry.known_event_ids(event.event_id for _, event in valid)
    seen: dict[uuid.UUID, tuple[int, events.AnyEvent]] = {}  # in this request: the first index and event
    claims: list[str] = []
    intake = Intake(outcomes=[])
    for index, event in valid:
        event_id = event.event_id
        if event_id in known and known[event_id] != me:
            outcomes[index] = _rejected(index, str(event_id), "event_id", "this event_id is already taken", "conflict")
            continue
        if event_id in seen and seen[event_id][1] != event:
            first = seen[event_id][0]
            reason = f"used at index {first} of this request for different content; one event_id, one event"
            outcomes[index] = _rejected(index, str(event_id), "event_id", reason, "conflict")
            continue
        if event_id in known or event_id in seen or event_id in in_flight:
            outcomes[index] = Outcome(index, "duplicate", str(event_id))
            continue
        owner = owners.get(event.site_id)
        if owner is not None and owner != me:
            outcomes[index] = _rejected(
                index, str(event_id), "site_id", "the site is registered to another enterprise", "forbidden"
            )
            continue
        if owner is None and not isinstance(event, SiteRegistered):
            outcomes[index] = _rejected(
                index, str(event_id), "site_id", "the site is not registered; post site.registered first", "forbidden"
            )
            continue
        if owner is None:
            owners[event.site_id] = me
            claims.append(event.site_id)
        seen[event_id] = (index, event)
        intake.accepted.append((index, event))
        outcomes[index] = Outcome(index, "accepted", str(event_id))

    if claims:
        _claim(registry, me, claims, intake, outcomes)
    intake.outcomes = [outcome for outcome in outcomes if outcome is not None]
    return intake


def _claim(registry: Registry, me: str, sites: list[str], intake: Intake, outcomes: list[Outcome | None]) -> None:
    """Claim newly registered sites; a race lost to another enterprise rejects that site's events."""
    registry.claim_sites(me, sites)
    owners = registry.site_owners(sites)
    lost = {site for site in sites if owners.get(site) != me}
    if not lost:
        return
    kept = []
    for index, event in intake.accepted:
        if event.site_id in lost:
            outcomes[index] = _rejected(
                index, str(event.event_id), "site_id", "the site is registered to another enterprise", "forbidden"
            )
        else:
            kept.append((index, event))
    intake.accepted = kept


def _envelope_problem(event: events.AnyEvent, enterprise: Enterprise) -> tuple[str, str] | None:
    if isinstance(event, PolicyLevelChanged):
        return "event_type", "policy.level_changed is posted by regulators, not enterprises"
    if isinstance(event, DESK_EVENTS):
        return "event_type", f"{events.event_type(event)} is recorded by regulators at the alert desk"
    if event.enterprise_id != enterprise.enterprise_id:
        return "enterprise_id", f"does not match the credentials (expected {enterprise.enterprise_id})"
    return None


def _operator_problem(event: events.AnyEvent, operator: Operator) -> tuple[str, str] | None:
    if isinstance(event, REGISTRY_EVENTS):
        return "event_type", f"{events.event_type(event)} is posted by the enterprise, not by a site operator"
    if event.site_id not in operator.sites:
        return "site_id", f"this operator may post only for {', '.join(sorted(operator.sites))}"
    if event.actor_id not in (None, operator.actor_id):
        return "actor_id", "an operator's events carry its own pseudonym; leave actor_id out"
    return None


def _rejected(index: int, event_id: str | None, field: str, reason: str, problem: Problem) -> Outcome:
    return Outcome(index, "rejected", event_id, field, reason, problem)


def pack(
    accepted: Iterable[tuple[int, events.AnyEvent]], max_events: int, partitions: int, backfill: bool = False
) -> list[KafkaRecord]:
    """One record per partition (in posting order) holding up to `max_events` events, stamped
    received_at (and `backfill`, for a request marked as history). Each event goes to its site's
    partition (the one Kafka would give the site's id as a key), so one site's events stay in order
    on one partition; grouping the sites that share a partition makes a 500-event batch a handful
    of records rather than hundreds. The key is the first event's site."""
    received_at = datetime.now(UTC)
    records = []
    for partition, group in by_partition(accepted, lambda item: item[1].site_id, partitions).items():
        for start in range(0, len(group), max_events):
            chunk = group[start : start + max_events]
            stamped = [
                msgspec.structs.replace(event, received_at=received_at, backfill=event.backfill or backfill)
                for _, event in chunk
            ]
            records.append(
                KafkaRecord(
                    key=chunk[0][1].site_id.encode(),
                    value=events.encode(stamped),
                    partition=partition,
                    indexes=[index for index, _ in chunk],
                    event_ids=[event.event_id for _, event in chunk],
                )
            )
    return records


def http_status(outcomes: list[Outcome]) -> int:
    if any(outcome.status == "failed" for outcome in outcomes):
        return 503
    rejected = [outcome for outcome in outcomes if outcome.status == "rejected"]
    if not rejected:
        return 202
    if len(rejected) < len(outcomes):
        return 207
    problems = {outcome.problem for outcome in rejected}
    if problems == {"forbidden"}:
        return 403
    if problems == {"conflict"}:
        return 409
    return 422


def summarize(outcomes: list[Outcome]) -> IngestResponse:
    counts = {status: 0 for status in ("accepted", "duplicate", "rejected", "failed")}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return IngestResponse(counts["accepted"], counts["duplicate"], counts["rejected"], counts["failed"], outcomes)
