"""The rule engine of one partition: folds events into per-key state and raises alerts on event time.

The clock is a watermark: the latest event time seen in the partition minus the allowed lateness
(clock ticks, when enabled, advance it in quiet periods). A rule never looks at the wall clock;
it schedules a check at an event time, and the check runs when the watermark passes it. Feeding
the same events in the same order therefore gives the same alerts, byte for byte.

State lives in plain JSON-able dicts, one per key (a site, or a vehicle), so it can be written to
a faust table and recovered; each remembers the last log position it applied, so events replayed
after a crash are not applied twice, and its pending checks by name ("<rule>|<subject>": due), so
scheduling, cancelling and firing one costs the same however many a key holds. Saved keys may
be ahead of the saved clock (never behind it: see `PartitionedRules.checkpoint`); an event a key
already holds still moves the clock, so the watermark passes the same points on a replay as it
did the first time.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypedDict, TypeVar, cast

import msgspec

from schemas.alerts import AlertRaised, AlertResolved, AnyAlert, SubjectKind
from schemas.envelope import Event
from schemas.policy import PolicyLevelChanged
from streams.compliance.thresholds import Thresholds

if TYPE_CHECKING:  # the catalogue is built from the rule modules, which import this one
    from streams.compliance.catalogue import Catalogue, Profile

T = TypeVar("T", bound=Thresholds)

ALERT_NAMESPACE = uuid.UUID("6f1d8f0e-5a4e-4b7d-9a0c-3c2e1d0b9a87")
SHANGHAI_OFFSET_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000
State = dict[str, Any]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@cache  # the catalogue's few durations, asked for about once an event
def ms_of(duration: timedelta) -> int:
    return int(duration / timedelta(milliseconds=1))


def to_datetime(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def local_day(millis: int) -> int:
    """Days since 1970-01-01 in Asia/Shanghai (fixed +08:00, no daylight saving)."""
    return (millis + SHANGHAI_OFFSET_MS) // DAY_MS


def day_start(day: int) -> int:
    return day * DAY_MS - SHANGHAI_OFFSET_MS


def day_label(day: int) -> str:
    return to_datetime(day_start(day) + SHANGHAI_OFFSET_MS).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class RuleFamily:
    """A rule module as it declares itself: its names in Chinese and English; its ids (a StrEnum)
    and each one's threshold model, which the catalogue fills per profile; the logic that runs
    them, made once per engine; and the key they follow (a site, or a vehicle re-keyed)."""

    zh: str
    en: str
    ids: type[StrEnum]
    thresholds: Mapping[str, type[Thresholds]]
    logics: tuple[Callable[[], RuleLogic], ...]
    key: Literal["site", "vehicle"] = "site"

    def __post_init__(self) -> None:
        if set(self.thresholds) != set(self.ids):
            raise ValueError(f"{self.ids.__name__}: each rule id needs one threshold model, and only those")

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(self.ids)


class OpenAlert(TypedDict):
    """An alert raised and not yet resolved, as a key's state tracks it (`state["open"][name]`)."""

    alert_id: str
    deadline: int
    kind: SubjectKind
    raised_at: int  # on the partition's clock: tracked `TRACKED_ALERT_MS` from then


class KeyState(TypedDict, total=False):
    """One key's state (a site, or a vehicle), saved as JSON in the rule-state table."""

    key: str
    applied: list[int]  # the last log position folded: [offset, index in its record]
    rules: dict[str, Any]  # each family's data by name (`Context.data`), typed in its module
    timers: dict[str, int]  # "<rule>|<subject>" -> due (ms)
    open: dict[str, OpenAlert]  # "<rule>|<subject>" -> the alert raised and not resolved
    site: SiteInfo  # who the site is (for a vehicle: the site it is judged as at)
    registered: list[int]  # where site.registered was folded (`rulebook.evaluate_site_event`)
    rekeyed: dict[str, int]  # origins of re-keyed copies folded -> event time (ms)


class SiteInfo(TypedDict, total=False):
    """Who a site is, as the site family records it from site.registered (`ctx.site`)."""

    site_id: str
    enterprise_id: str
    division_code: str
    international: bool  # handles international mail: samples and monthly inspections owed


class RuleLogic(Protocol):
    """A group of catalogue rules over one kind of key."""

    events: tuple[type[Event], ...]

    def observe(self, ctx: Context, event: Event) -> None: ...

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None: ...

    def policy_changed(self, ctx: Context) -> None:
        """Re-arm checks whose due time depends on the profile in force."""


class Position(NamedTuple):
    """Where an event sits in the log: offsets grow, and events of one record share it, in the
    order of `in_record`. (A named tuple: one is made per event, at half the cost of a frozen
    dataclass; not `index`, which would hide the tuple's method.)"""

    offset: int
    in_record: int = 0

    def as_list(self) -> list[int]:
        return [self.offset, self.in_record]


class PolicyBook:
    """Response level in force per jurisdiction over time, from policy.level_changed events."""

    def __init__(self, state: State) -> None:
        self.state = state.setdefault("levels", {})

    def apply(self, event: PolicyLevelChanged) -> None:
        prefix = jurisdiction_prefix(event.payload.division_code)
        history = self.state.setdefault(prefix, [])
        entry = [ms(event.occurred_at), event.payload.level]
        if entry not in history:
            history.append(entry)
            history.sort()

    def changes(self, division_code: str) -> list[int]:
        """When the level in force for `division_code` may change (ms)."""
        return sorted(
            effective
            for prefix, history in self.state.items()
            if division_code.startswith(prefix)
            for effective, _ in history
        )

    def profile(self, division_code: str, at: int) -> Profile:
        best: tuple[int, Profile] | None = None
        for prefix, history in self.state.items():
            if not division_code.startswith(prefix):
                continue
            in_force = [level for effective, level in history if effective <= at]
            if in_force and (best is None or len(prefix) > best[0]):
                best = (len(prefix), in_force[-1])
        return best[1] if best else "normal"


def jurisdiction_prefix(division_code: str) -> str:
    """330000 -> 33, 330100 -> 3301, 330106 -> 330106, 330106001 -> 330106001."""
    code = division_code
    while len(code) > 2 and len(code) <= 6 and code.endswith("00"):
        code = code[:-2]
    return code


_footprint_encoder = msgspec.json.Encoder()
DAY_MS = 86_400_000
# The horizon of late records (docs/late-records.md): open alerts, and what a released batch leaves
# behind, are kept this long on the partition's clock, so a record posted up to two months late
# still settles what it belongs to.
TRACKED_ALERT_MS = 62 * DAY_MS


@dataclass
class Engine:
    """Rules over the keys of one partition."""

    catalogue: Catalogue
    logics: Sequence[RuleLogic]
    states: dict[str, State] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    # (fire at, sequence, key, rule, subject, due): a check as of `due`, run once the watermark is at `fire at`
    _timers: list[tuple[int, int, str, str, str, int]] = field(default_factory=list)
    _sequence: int = 0

    CLOCK = "__clock__"
    POLICY = "__policy__"

    def __post_init__(self) -> None:
        # "offset": the partition's last record folded, for reading the log in order (see `PartitionedRules.in_order`).
        self.states.setdefault(self.CLOCK, {"watermark": 0, "max_seen": 0, "offset": -1})
        self.states.setdefault(self.POLICY, {})
        self.policy = PolicyBook(self.states[self.POLICY])
        self._lateness = int(self.catalogue.allowed_lateness / timedelta(milliseconds=1))
        # A check already due when a back-filled record arms it waits this long on the partition's
        # clock for the rest of the history: judged on its facts, not on the order they were posted in.
        self.backfill_wait = int(self.catalogue.backfill_wait / timedelta(milliseconds=1))
        self._handlers: dict[type[Event], list[RuleLogic]] = {}
        for logic in self.logics:
            for event_type in logic.events:
                self._handlers.setdefault(event_type, []).append(logic)
        for key, state in self.states.items():
            timers = state.get("timers", {})
            if isinstance(timers, list):  # the earlier layout: [[due, rule, subject], ...]
                timers = state["timers"] = {rule_subject(rule_id, subject): due for due, rule_id, subject in timers}
                self.dirty.add(key)  # saved again in this layout with the next changes
            for name, due in timers.items():
                self._push(due, key, *split_rule_subject(name))

    @property
    def watermark(self) -> int:
        return int(self.states[self.CLOCK]["watermark"])

    def footprint(self) -> dict[str, int]:
        """How much the engine holds: keys, pending timers, open alerts, state as JSON bytes."""
        return {
            "keys": len(self.states),
            "timers": len(self._timers),
            "open_alerts": sum(len(state.get("open", ())) for state in self.states.values()),
            "state_bytes": len(_footprint_encoder.encode(self.states)),
        }

    def process(self, key: str, event: Event, position: Position, site: State | None = None) -> list[AnyAlert]:
        """Apply one event for `key`; return the alerts it and the advanced watermark produce."""
        clock = self.states[self.CLOCK]
        at = ms(event.occurred_at)  # once: the rules read it as `ctx.now`
        # The clock moves first, also for an event replayed after a crash: a key saved ahead of the
        # clock skips its events below, and the watermark must still pass the same points.
        if at > clock["max_seen"]:
            clock["max_seen"] = at
        self.dirty.add(self.CLOCK)
        alerts = self._advance(clock["max_seen"] - self._lateness)
        if isinstance(event, PolicyLevelChanged):
            self.policy.apply(event)  # idempotent: the same level at the same time is kept once
            self.dirty.add(self.POLICY)
            self._blank(key)
            for other, other_state in self.states.items():
                if other not in (self.CLOCK, self.POLICY) and self._apply_at(other, position):
                    ctx = Context(self, other, other_state, alerts, event, at)
                    for logic in self.logics:
                        logic.policy_changed(ctx)
            return alerts
        state = self._blank(key)
        if not self._apply_at(key, position):
            return alerts  # replayed after a crash: already folded into this key's state
        if site is not None:
            state["site"] = site
        ctx = Context(self, key, state, alerts, event, at)
        for logic in self._handlers.get(type(event), ()):
            logic.observe(ctx, event)
        # A late record may have scheduled a check that is already due: settle it before the next record.
        if self._timers and self._timers[0][0] <= clock["watermark"]:
            alerts += self._fire_due()
        return alerts

    def _blank(self, key: str) -> State:
        return self.states.setdefault(key, {"key": key, "applied": [-1, -1], "rules": {}, "timers": {}, "open": {}})

    def _apply_at(self, key: str, position: Position) -> bool:
        """Mark `key` as having applied `position`; False if its state already holds it."""
        state, applied = self.states[key], position.as_list()
        if applied <= state["applied"]:
            return False
        state["applied"] = applied
        self.dirty.add(key)
        return True

    def tick(self, now: datetime) -> list[AnyAlert]:
        """Advance the clock in a quiet partition (a tick record in the log)."""
        clock = self.states[self.CLOCK]
        clock["max_seen"] = max(clock["max_seen"], ms(now))
        self.dirty.add(self.CLOCK)
        return self._advance(clock["max_seen"] - self._lateness)

    def flush(self, until: int) -> list[AnyAlert]:
        """Advance the watermark to `until` (end of a replay range)."""
        return self._advance(until)

    def _advance(self, watermark: int) -> list[AnyAlert]:
        clock = self.states[self.CLOCK]
        if watermark > clock["watermark"]:
            clock["watermark"] = watermark
        watermark = clock["watermark"]
        # Most events move the watermark past no check: test the heap's head before calling.
        alerts = self._fire_due() if self._timers and self._timers[0][0] <= watermark else []
        if clock.get("swept", 0) < watermark // DAY_MS:
            clock["swept"] = watermark // DAY_MS
            self._stop_tracking_old_alerts()
        return alerts

    def _stop_tracking_old_alerts(self) -> None:
        """Once a day of event time: open alerts raised over `TRACKED_ALERT_MS` ago on the partition's
        clock leave the state (they stay open in the alerts table; a record that late no longer
        settles them). Counted from when it was raised, so an alert raised by a record posted weeks
        late is tracked as long as any other. (Saved before that was kept: from its deadline.)"""
        horizon = self.watermark - TRACKED_ALERT_MS
        for key, state in self.states.items():
            opened = state.get("open")
            if not opened:
                continue
            old = [name for name, alert in opened.items() if alert.get("raised_at", alert["deadline"]) < horizon]
            for name in old:
                del opened[name]
            if old:
                self.dirty.add(key)

    def _fire_due(self) -> list[AnyAlert]:
        watermark = self.watermark
        alerts: list[AnyAlert] = []
        while self._timers and self._timers[0][0] <= watermark:
            _, _, key, rule_id, subject, due = heapq.heappop(self._timers)
            state = self.states.get(key)
            name = rule_subject(rule_id, subject)
            if state is None or state["timers"].get(name) != due:
                continue  # cancelled or rescheduled
            del state["timers"][name]
            self.dirty.add(key)
            ctx = Context(self, key, state, alerts, None, due)
            for logic in self.logics:
                logic.fire(ctx, rule_id, subject)
        return alerts

    def _push(self, due: int, key: str, rule_id: str, subject: str, fire_at: int | None = None) -> None:
        """Check `subject` for `rule_id` as of `due`, once the watermark reaches `fire_at` (default `due`)."""
        self._sequence += 1
        heapq.heappush(self._timers, (due if fire_at is None else fire_at, self._sequence, key, rule_id, subject, due))

    def take_dirty(self) -> dict[str, State]:
        changed = {key: self.states[key] for key in self.dirty if key in self.states}
        self.dirty.clear()
        return changed


def rule_subject(rule_id: str, subject: str) -> str:
    """How a key's state names its pending checks and open alerts: "<rule>|<subject>"."""
    return f"{rule_id}|{subject}"


def split_rule_subject(name: str) -> tuple[str, str]:
    """Split "<rule>|<subject>" at its first "|": rule ids have none, subjects may."""
    rule_id, _, subject = name.partition("|")
    return rule_id, subject


class Context:
    """What a rule may do while handling one event or one due check."""

    def __init__(
        self,
        engine: Engine,
        key: str,
        state: State,
        alerts: list[AnyAlert],
        event: Event | None,
        now: int,
    ) -> None:
        self.engine = engine
        self.key = key
        self.state = cast(KeyState, state)
        self.alerts = alerts
        self.event = event
        self.now = now  # the event's time in ms, or a due check's

    @property
    def watermark(self) -> int:
        return self.engine.watermark

    @property
    def late(self) -> bool:
        """The current event happened before the watermark: it arrived after its time was settled."""
        return self.event is not None and self.now < self.engine.watermark

    def data(self, name: str) -> State:
        data: State = self.state["rules"].setdefault(str(name), {})  # a StrEnum id: saved as its text
        return data

    @property
    def site(self) -> SiteInfo:
        site: SiteInfo = self.state.get("site", {})
        return site

    def profile(self, at: int) -> Profile:
        return self.engine.policy.profile(self.site.get("division_code", ""), at)

    def limits(self, rule_id: str, at: int, model: type[T]) -> T:
        """The thresholds of `rule_id` in the profile in force at `at`, as its module's model."""
        return self.engine.catalogue.rule(rule_id).limits(self.profile(at), model)

    def schedule(self, due: int, rule_id: str, subject: str) -> None:
        """Check `subject` for `rule_id` when the watermark reaches `due` (once per rule and subject)."""
        name, timers = rule_subject(rule_id, subject), self.state["timers"]
        if timers.get(name) == due:
            return  # scheduled for then already (a day's check, armed by each of its events)
        timers.pop(name, None)  # a rescheduled check goes last, as a new one does
        timers[name] = due
        fire_at = None
        if self.event is not None and self.event.backfill and due <= self.engine.watermark:
            # History posted after the fact: the rest of it is on its way; judge once it is in.
            fire_at = self.engine.watermark + self.engine.backfill_wait
        self.engine._push(due, self.key, rule_id, subject, fire_at)

    def pending(self, rule_id: str, subject: str) -> int | None:
        """The due time of a scheduled check, if there is one."""
        due: int | None = self.state["timers"].get(rule_subject(rule_id, subject))
        return due

    def pending_for(self, subject: str) -> bool:
        """Whether any rule has a check scheduled for `subject`."""
        return any(split_rule_subject(name)[1] == subject for name in self.state["timers"])

    def cancel(self, rule_id: str, subject: str) -> None:
        self.state["timers"].pop(rule_subject(rule_id, subject), None)

    def is_open(self, rule_id: str, subject: str) -> bool:
        return rule_subject(rule_id, subject) in self.state["open"]

    def has_open(self, subject: str) -> bool:
        """Whether any rule has an open alert tracked for `subject`."""
        return any(split_rule_subject(name)[1] == subject for name in self.state["open"])

    def open_subjects(self, rule_id: str) -> list[str]:
        prefix = rule_subject(rule_id, "")
        return [name[len(prefix) :] for name in self.state["open"] if name.startswith(prefix)]

    def raise_alert(
        self,
        rule_id: str,
        subject_kind: SubjectKind,
        subject: str,
        deadline: int,
        evidence: Iterable[str],
        details: dict[str, Any] | None = None,
        at: int | None = None,
        track: bool = True,
    ) -> None:
        """Raise once per rule and subject. `track=False` is for a violation no later record can
        undo (a dispatch before the rest period, a back-filled record): nothing waits to resolve it."""
        name = rule_subject(rule_id, subject)
        if name in self.state["open"]:
            return
        catalogue = self.engine.catalogue
        rule = catalogue.rule(rule_id)
        alert_id = str(uuid.uuid5(ALERT_NAMESPACE, f"{rule_id}|{self.key}|{subject}|{deadline}"))
        moment = self.now if at is None else at
        alert = AlertRaised(
            alert_id=alert_id,
            rule_id=rule_id,
            catalogue_version=catalogue.version,
            severity=rule.severity,
            enterprise_id=self.site.get("enterprise_id", ""),
            site_id=self.site.get("site_id", self.key),
            division_code=self.site.get("division_code", ""),
            subject_kind=subject_kind,
            subject_id=subject,
            at=to_datetime(moment),
            evidence=sorted(set(evidence)),
            profile=self.profile(deadline),
            deadline=to_datetime(deadline),
            title_zh=rule.title.zh,
            details=details or {},
        )
        if track:
            self.state["open"][name] = OpenAlert(
                alert_id=alert_id,
                deadline=deadline,
                kind=subject_kind,
                raised_at=max(self.engine.watermark, deadline),
            )
        self.alerts.append(alert)

    def forget(self, subject: str) -> None:
        """Stop tracking the open alerts of a subject whose state is released."""
        for name in [name for name in self.state["open"] if split_rule_subject(name)[1] == subject]:
            del self.state["open"][name]

    def resolve_alert(
        self,
        rule_id: str,
        subject: str,
        evidence: Iterable[str],
        action_at: int | None = None,
        again: OpenAlert | None = None,
    ) -> bool:
        """Close an open alert; whether there was one to close. It is late when the resolving record
        arrived after the alert was raised; `action_at` after the deadline makes the reason
        "action_after_deadline". `again`: the tracking entry of an alert resolved before, to resolve
        it anew when it is no longer open (the later resolution replaces the earlier, by id)."""
        opened = self.state["open"].pop(rule_subject(rule_id, subject), None) or again
        if opened is None:
            return False
        catalogue = self.engine.catalogue
        late_reason: Literal["record_after_deadline", "action_after_deadline"] | None = None
        if action_at is not None:
            late_reason = "action_after_deadline" if action_at > opened["deadline"] else "record_after_deadline"
        self.alerts.append(
            AlertResolved(
                alert_id=opened["alert_id"],
                rule_id=rule_id,
                catalogue_version=catalogue.version,
                severity=catalogue.rule(rule_id).severity,
                enterprise_id=self.site.get("enterprise_id", ""),
                site_id=self.site.get("site_id", self.key),
                division_code=self.site.get("division_code", ""),
                subject_kind=opened["kind"],
                subject_id=subject,
                at=to_datetime(self.now),
                evidence=sorted(set(evidence)),
                late=late_reason is not None,
                late_reason=late_reason,
            )
        )
        return True
