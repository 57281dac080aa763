"""Replaying history through a rule catalogue, and comparing two catalogues ("what if").

Input is the log as (partition, offset, index, event-or-tick) in log order per partition. Site
rules run per partition exactly as in the worker; vehicle events are folded in event-time order
by one vehicle engine. At the end the watermark is moved to `until`, so every check due by then
is settled.

A range starts from the state as of its start: the sources hand over the registry's events from
the beginning and every other event from `WARMUP` before the range (state older than that is
released by then, see the horizon in `streams.compliance.engine`), and only the alerts of the
range are returned: those whose deadline is at or after `since` (a deadline is a fact's, the same
whatever order the records were folded in), with their resolutions. A policy change stored once, as the
warehouse keeps it, is given to every partition (`EVERY_PARTITION`): the worker reads it on each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.alerts import AlertRaised, AnyAlert
from schemas.events import AnyEvent
from schemas.policy import PolicyLevelChanged
from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import TRACKED_ALERT_MS, Engine, Position, ms
from streams.compliance.rulebook import evaluate_site_event, site_engine, vehicle_engine, vehicle_of
from streams.compliance.rules.disinfection import RETENTION_MS

EVERY_PARTITION = -1  # a LogEntry for every partition: a policy change, as the warehouse stores it once
AFTER_RECORD = 1_000_000  # an index past any record's events: a shared change folded after the record
WARMUP = timedelta(milliseconds=TRACKED_ALERT_MS + RETENTION_MS)


@dataclass(frozen=True)
class LogEntry:
    partition: int
    offset: int
    index: int
    item: AnyEvent | datetime  # an event, or a clock tick
    origin: str | None = None  # a re-keyed copy's first place in the log (`streams.placement`)


def replay(
    catalogue: Catalogue, log: Iterable[LogEntry], until: datetime | None = None, since: datetime | None = None
) -> list[AnyAlert]:
    """The alerts of the log (with a deadline from `since` on, when given) and their resolutions,
    with every check due by `until` settled."""
    sites: dict[int, Engine] = {}
    shared: list[PolicyLevelChanged] = []  # EVERY_PARTITION entries, which come first
    given: dict[int, int] = {}  # partition -> how many of `shared` its engine has folded
    last_record: dict[int, int] = {}  # partition -> offset of the last record folded
    vehicles = vehicle_engine(catalogue)
    vehicle_events: list[tuple[int, int, int, int, AnyEvent, dict[str, object] | None]] = []
    alerts: list[AnyAlert] = []
    latest = 0

    def share(partition: int, engine: Engine, until_ms: int) -> None:
        """Fold the shared policy changes in force by `until_ms` that the partition has not had,
        between two of its records where its own log reaches their time, as the worker reads
        them there (placed after the last record's events, so its keys take them as new)."""
        while given.get(partition, 0) < len(shared) and ms(shared[given[partition]].occurred_at) <= until_ms:
            number = given[partition]
            position = Position(last_record.get(partition, -1), AFTER_RECORD + number)
            alerts.extend(engine.process(shared[number].site_id, shared[number], position))
            given[partition] = number + 1

    for entry in log:
        if entry.partition == EVERY_PARTITION:
            if isinstance(entry.item, PolicyLevelChanged):
                shared.append(entry.item)
                vehicle_events.append((ms(entry.item.occurred_at), -1, entry.offset, entry.index, entry.item, None))
            continue
        engine = sites.setdefault(entry.partition, site_engine(catalogue))
        given.setdefault(entry.partition, 0)
        if entry.offset != last_record.get(entry.partition):  # between records
            moment = entry.item if isinstance(entry.item, datetime) else entry.item.occurred_at
            share(entry.partition, engine, ms(moment))
            last_record[entry.partition] = entry.offset
        if isinstance(entry.item, datetime):
            alerts += engine.tick(entry.item)
            continue
        event = entry.item
        evaluated = evaluate_site_event(engine, event, Position(entry.offset, entry.index), entry.origin)
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
    for partition, engine in sites.items():
        share(partition, engine, end)
    for engine in [*sites.values(), vehicles]:
        alerts += engine.flush(end)
    if since is None:
        return alerts
    kept = {alert.alert_id for alert in alerts if isinstance(alert, AlertRaised) and alert.deadline >= since}
    return [alert for alert in alerts if alert.alert_id in kept]


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
