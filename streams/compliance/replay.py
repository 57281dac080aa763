"""Replaying history through a rule catalogue, and comparing two catalogues ("what if").

Input is the log as (partition, offset, index, event-or-tick) in log order per partition. Site
rules run per partition exactly as in the worker; vehicle events are folded in event-time order
by one vehicle engine. At the end the watermark is moved to `until`, so every check due by then
is settled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from schemas.alerts import AlertRaised, AnyAlert
from schemas.events import AnyEvent
from schemas.policy import PolicyLevelChanged
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import Engine, Position, ms
from streams.compliance.rulebook import evaluate_site_event, site_engine, vehicle_engine, vehicle_of


@dataclass(frozen=True)
class LogEntry:
    partition: int
    offset: int
    index: int
    item: AnyEvent | datetime  # an event, or a clock tick


def replay(catalogue: Catalogue, log: Iterable[LogEntry], until: datetime | None = None) -> list[AnyAlert]:
    sites: dict[int, Engine] = {}
    vehicles = vehicle_engine(catalogue)
    vehicle_events: list[tuple[int, int, int, int, AnyEvent, dict[str, object] | None]] = []
    alerts: list[AnyAlert] = []
    latest = 0
    for entry in log:
        engine = sites.setdefault(entry.partition, site_engine(catalogue))
        if isinstance(entry.item, datetime):
            alerts += engine.tick(entry.item)
            continue
        event = entry.item
        evaluated = evaluate_site_event(engine, event, Position(entry.offset, entry.index))
        if evaluated is None:
            continue
        latest = max(latest, ms(event.occurred_at))
        alerts += evaluated
        if vehicle_of(event) is not None or isinstance(event, PolicyLevelChanged):
            site = engine.states.get(event.site_id, {}).get("site")
            vehicle_events.append((ms(event.occurred_at), entry.partition, entry.offset, entry.index, event, site))
    vehicle_events.sort(key=lambda item: item[:4])
    for sequence, (_, _, _, _, event, site) in enumerate(vehicle_events):
        key = event.site_id if isinstance(event, PolicyLevelChanged) else (vehicle_of(event) or "")
        alerts += vehicles.process(key, event, Position(sequence), site)
    end = ms(until) if until is not None else latest
    for engine in [*sites.values(), vehicles]:
        alerts += engine.flush(end)
    return alerts


@dataclass(frozen=True)
class Difference:
    rule_id: str
    added: int
    removed: int
    sites: list[tuple[str, int]]  # sites with the most added alerts


def compare(base: list[AnyAlert], other: list[AnyAlert]) -> list[Difference]:
    """Raised alerts that only one catalogue produces, per rule (matched by rule, site and subject)."""

    def keyed(alerts: list[AnyAlert]) -> set[tuple[str, str, str]]:
        return {(a.rule_id, a.site_id, _subject(a)) for a in alerts if isinstance(a, AlertRaised)}

    before, after = keyed(base), keyed(other)
    added, removed = after - before, before - after
    differences = []
    for rule_id in sorted({key[0] for key in added | removed}):
        rule_added = [key for key in added if key[0] == rule_id]
        counts = Counter(site for _, site, _ in rule_added).most_common(5)
        differences.append(Difference(rule_id, len(rule_added), sum(1 for key in removed if key[0] == rule_id), counts))
    return differences


def _subject(alert: AnyAlert) -> str:
    # Deadline-based subjects are the same across catalogues; the alert id is not (it includes the deadline).
    return alert.subject_id
