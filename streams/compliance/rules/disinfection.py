"""Parcel batches (物防): DIS-IMPORT, DIS-DOMESTIC, DIS-COVERAGE, DIS-BEFORE-DISPATCH, REST-IMPORT.

A received batch gets a deadline (imported, or domestic from outside the city). When the watermark
passes it, a batch with no disinfection by then raises the deadline rule; one whose items
disinfected by the deadline fall short of those received raises DIS-COVERAGE. A dispatch is
checked at its own time: no disinfection before it raises DIS-BEFORE-DISPATCH, and an imported
batch leaving before its rest period, REST-IMPORT.

Verdicts are functions of the batch's facts in event time, whenever they arrive (DESIGN.md §8b):
once a check has run, every later fact of the batch settles it again (`_settle`). A record that
shows the batch was disinfected in time resolves the deadline alert it arrived too late to
prevent (`record_after_deadline`), and may reveal a shortfall in coverage that is raised then; a
disinfection after the deadline resolves it as `action_after_deadline`.

A batch's state is kept `RETENTION_MS` of the partition's clock after its last record, and for as
long as it has a pending check or an open alert (open alerts are tracked up to the engine's
`TRACKED_ALERT_MS`, the horizon), or holds records with no receipt (up to the horizon): so a day
posted late, or a receipt posted after its disinfection, still meets the rest of its batch. A
released batch leaves its receipt and first disinfection behind (`released`, up to the horizon),
which is what a dispatch posted later is judged against.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypedDict

from schemas.envelope import Event
from schemas.parcels import ParcelsDisinfected, ParcelsDispatched, ParcelsReceived
from streams.compliance.engine import DAY_MS, TRACKED_ALERT_MS, Context, RuleFamily, ms_of
from streams.compliance.thresholds import Duration, NoThresholds, Thresholds

RETENTION_MS = int(timedelta(days=8) / timedelta(milliseconds=1))
RELEASE = "_release-batch"


class DisinfectionRule(StrEnum):
    """The rules of this family (the catalogue holds their text and thresholds)."""

    IMPORT = "DIS-IMPORT"
    DOMESTIC = "DIS-DOMESTIC"
    COVERAGE = "DIS-COVERAGE"
    BEFORE_DISPATCH = "DIS-BEFORE-DISPATCH"
    REST_IMPORT = "REST-IMPORT"


class Deadline(Thresholds):
    deadline: Duration


class Rest(Thresholds):
    rest: Duration


class Disinfection:
    events: tuple[type[Event], ...] = (ParcelsReceived, ParcelsDisinfected, ParcelsDispatched)

    def observe(self, ctx: Context, event: Event) -> None:
        if isinstance(event, ParcelsReceived):
            self._received(ctx, event)
        elif isinstance(event, ParcelsDisinfected):
            self._disinfected(ctx, event)
        elif isinstance(event, ParcelsDispatched):
            self._dispatched(ctx, event)

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        batch = _batches(ctx).get(subject)
        check = CHECKS.get(rule_id)
        if batch is not None and check is not None:
            check(self, ctx, subject, batch)

    def policy_changed(self, ctx: Context) -> None:
        return None  # deadlines are fixed by the profile in force when the fact happened

    def _batch(self, ctx: Context, batch_id: str) -> Batch:
        batches = _batches(ctx)
        if batch_id not in batches and (released := _released(ctx).pop(batch_id, None)) is not None:
            received, first, imported, _ = released  # a record of a settled batch, posted long after the rest
            batches[batch_id] = {
                **_blank(), "received": received, "first_disinfected": first, "restored": True,
                "origin": "imported" if imported else "domestic",
            }  # fmt: skip
        if batch_id not in batches:
            batches[batch_id] = _blank()
        batch: Batch = batches[batch_id]
        return batch

    def _received(self, ctx: Context, event: ParcelsReceived) -> None:
        payload = event.payload
        batch = self._batch(ctx, payload.batch_id)
        at = ctx.now
        received = batch["received"]
        batch["received"] = received = at if received is None else min(received, at)
        batch["origin"] = payload.origin
        batch["received_items"] += payload.item_count
        batch["evidence"].append(str(event.event_id))
        rule_id = _deadline_rule(event)
        if rule_id is not None and not batch.get("restored"):
            batch["deadline"] = deadline = received + ms_of(ctx.limits(rule_id, received, Deadline).deadline)
            batch["rule"] = rule_id
            if _checked(ctx, payload.batch_id, batch):
                self._settle(ctx, payload.batch_id, batch, [str(event.event_id)])  # a part received late
            else:
                ctx.schedule(deadline, rule_id, payload.batch_id)
        if payload.origin == "imported" and (dispatched := batch["dispatched"]) is not None:
            ctx.schedule(
                dispatched, DisinfectionRule.REST_IMPORT, payload.batch_id
            )  # the receipt came after the dispatch
        self._touched(ctx, payload.batch_id, batch)

    def _disinfected(self, ctx: Context, event: ParcelsDisinfected) -> None:
        batch_id = event.payload.batch_id
        batch = self._batch(ctx, batch_id)
        at = ctx.now
        first = batch["first_disinfected"]
        batch["first_disinfected"] = at if first is None else min(first, at)
        batch["disinfected_items"] += event.payload.item_count
        batch.setdefault("disinfections", []).append([at, event.payload.item_count])
        evidence = [str(event.event_id)]
        batch["evidence"] += evidence
        if _checked(ctx, batch_id, batch):
            self._settle(ctx, batch_id, batch, evidence)
        if batch["dispatched"] is not None and at <= batch["dispatched"]:
            ctx.resolve_alert(DisinfectionRule.BEFORE_DISPATCH, batch_id, evidence, action_at=at)
        self._touched(ctx, batch_id, batch)

    def _dispatched(self, ctx: Context, event: ParcelsDispatched) -> None:
        batch_id = event.payload.batch_id
        batch = self._batch(ctx, batch_id)
        at = ctx.now
        dispatched = batch["dispatched"]
        batch["dispatched"] = dispatched = at if dispatched is None else min(dispatched, at)
        batch["evidence"].append(str(event.event_id))
        if event.payload.override_reason is not None:  # dispatched past the workbench's gate, with a reason
            batch["override_reason"] = event.payload.override_reason
        ctx.schedule(dispatched, DisinfectionRule.BEFORE_DISPATCH, batch_id)
        if batch["origin"] == "imported" and batch["received"] is not None:
            ctx.schedule(dispatched, DisinfectionRule.REST_IMPORT, batch_id)
        self._touched(ctx, batch_id, batch)

    def _check_dispatch(self, ctx: Context, batch_id: str, batch: Batch) -> None:
        """DIS-BEFORE-DISPATCH, at the dispatch (scheduled by it): no disinfection on record by then."""
        first, dispatched = batch["first_disinfected"], batch["dispatched"]
        if dispatched is not None and (first is None or first > dispatched):
            rule_id = DisinfectionRule.BEFORE_DISPATCH
            ctx.raise_alert(rule_id, "batch", batch_id, dispatched, batch["evidence"], _details(batch))

    def _check_rest(self, ctx: Context, batch_id: str, batch: Batch) -> None:
        """REST-IMPORT, at the dispatch (scheduled once both it and the receipt are on record): an
        imported batch leaving before its rest period ended."""
        received, dispatched = batch["received"], batch["dispatched"]
        if received is None or dispatched is None:
            return
        rest = ms_of(ctx.limits(DisinfectionRule.REST_IMPORT, received, Rest).rest)
        if dispatched < received + rest:
            details = {**_details(batch), "rest_hours": rest / 3_600_000}
            ctx.raise_alert(
                DisinfectionRule.REST_IMPORT, "batch", batch_id, dispatched, batch["evidence"], details,
                track=False,
            )  # fmt: skip

    def _check_deadline(self, ctx: Context, batch_id: str, batch: Batch) -> None:
        batch["checked"] = True
        self._settle(ctx, batch_id, batch, batch["evidence"])

    def _settle(self, ctx: Context, batch_id: str, batch: Batch, evidence: list[str]) -> None:
        """Bring the batch's alerts in line with its facts as they stand (its deadline has passed)."""
        rule_id, deadline, first = batch.get("rule"), batch["deadline"], batch["first_disinfected"]
        if rule_id is None or deadline is None:
            return  # no deadline: a batch from within the city, or one released and restored
        if first is None or first > deadline:
            self._raise_once(ctx, rule_id, batch_id, batch, deadline)
            if first is not None:  # disinfected late, and on record: the alert is settled as late
                ctx.resolve_alert(rule_id, batch_id, evidence, action_at=first)
            return
        ctx.resolve_alert(rule_id, batch_id, evidence, action_at=first)  # raised before this record came
        if _disinfected_by(batch, deadline) < batch["received_items"]:
            self._raise_once(ctx, DisinfectionRule.COVERAGE, batch_id, batch, deadline)
            covered = _covered_at(batch)
            if covered is not None:
                ctx.resolve_alert(DisinfectionRule.COVERAGE, batch_id, evidence, action_at=covered)

    def _raise_once(self, ctx: Context, rule_id: str, batch_id: str, batch: Batch, deadline: int) -> None:
        raised = batch.setdefault("raised", [])
        if rule_id not in raised:
            raised.append(rule_id)
            ctx.raise_alert(rule_id, "batch", batch_id, deadline, batch["evidence"], _details(batch, deadline))

    def _touched(self, ctx: Context, batch_id: str, batch: Batch) -> None:
        """Keep the batch `RETENTION_MS` past its latest record on the partition's clock (a release
        already due was set from a clock no later than this one, so this one is never earlier)."""
        batch["touched"] = since = max(ctx.now, ctx.watermark)
        ctx.schedule(since + RETENTION_MS, RELEASE, batch_id)

    def _release(self, ctx: Context, batch_id: str) -> None:
        batch = _batches(ctx)[batch_id]
        unreceived = batch["received"] is None and ctx.now - batch.get("touched", 0) < TRACKED_ALERT_MS
        if ctx.pending_for(batch_id) or ctx.has_open(batch_id) or unreceived:
            ctx.schedule(ctx.now + RETENTION_MS, RELEASE, batch_id)
            return
        del _batches(ctx)[batch_id]  # no open alert is tracked for it (checked above)
        # What a dispatch or a receipt posted later still needs to be judged with the rest of the batch.
        released = _released(ctx)
        released[batch_id] = [batch["received"], batch["first_disinfected"], batch["origin"] == "imported", ctx.now]
        day = ctx.now // DAY_MS
        if ctx.data("batches_pruned").get("day", 0) < day:
            ctx.data("batches_pruned")["day"] = day
            for old in [name for name, kept in released.items() if kept[3] < ctx.now - TRACKED_ALERT_MS]:
                del released[old]


CHECKS: dict[str, Callable[[Disinfection, Context, str, Batch], None]] = {
    DisinfectionRule.IMPORT: Disinfection._check_deadline,
    DisinfectionRule.DOMESTIC: Disinfection._check_deadline,
    DisinfectionRule.BEFORE_DISPATCH: Disinfection._check_dispatch,
    DisinfectionRule.REST_IMPORT: Disinfection._check_rest,
    RELEASE: lambda rules, ctx, batch_id, _: rules._release(ctx, batch_id),
}


def _deadline_rule(event: ParcelsReceived) -> str | None:
    if event.payload.origin == "imported":
        return DisinfectionRule.IMPORT
    if event.payload.from_outside_city:
        return DisinfectionRule.DOMESTIC
    return None


class Batch(TypedDict, total=False):
    """A parcel batch as the family keeps it (`_batches(ctx)[batch_id]`); times in ms."""

    received: int | None  # the earliest receipt
    origin: str | None  # "imported" or "domestic"
    received_items: int
    disinfected_items: int
    first_disinfected: int | None
    dispatched: int | None  # the earliest dispatch
    deadline: int | None  # to be disinfected by, when it has one (DIS-IMPORT, DIS-DOMESTIC)
    rule: str  # the deadline's rule
    evidence: list[str]  # event ids
    disinfections: list[list[int]]  # [at, items] of each record, to count what was done by a moment
    raised: list[str]  # rules raised for the batch: each once, however often it is settled
    checked: bool  # its deadline check has run
    restored: bool  # rebuilt from what a released batch left (`Released`)
    touched: int  # its latest record, on the partition's clock
    override_reason: str  # a dispatch past the workbench's gate, and why


# What a released batch leaves behind: [received, first disinfected, imported, released at].
Released = list[Any]


def _batches(ctx: Context) -> dict[str, Batch]:
    batches: dict[str, Batch] = ctx.data("batches")
    return batches


def _released(ctx: Context) -> dict[str, Released]:
    released: dict[str, Released] = ctx.data("released")
    return released


def _blank() -> Batch:
    return {
        "received": None,
        "origin": None,
        "received_items": 0,
        "disinfected_items": 0,
        "first_disinfected": None,
        "dispatched": None,
        "deadline": None,
        "evidence": [],
        "disinfections": [],  # [at, items] of each record, to count what was done by a moment
        "raised": [],  # rules raised for the batch: each once, however often it is settled
    }


def _details(batch: Batch, deadline: int | None = None) -> dict[str, Any]:
    details = {
        "origin": batch["origin"],
        "received_items": batch["received_items"],
        "disinfected_items": batch["disinfected_items"] if deadline is None else _disinfected_by(batch, deadline),
    }
    if deadline is None and "override_reason" in batch:
        details["override_reason"] = batch["override_reason"]  # a dispatch the gate stopped, and why it went
    return details


def _disinfected_by(batch: Batch, moment: int) -> int:
    """Items disinfected by `moment` (event time); state saved before records were kept counts them all."""
    if "disinfections" not in batch:
        return int(batch["disinfected_items"])
    return sum(items for at, items in batch["disinfections"] if at <= moment)


def _covered_at(batch: Batch) -> int | None:
    """When the items disinfected reached those received, in event time; None: not yet."""
    done = 0
    for at, items in sorted(batch.get("disinfections", [])):
        done += items
        if done >= batch["received_items"]:
            return int(at)
    return None


def _checked(ctx: Context, batch_id: str, batch: Batch) -> bool:
    """Whether the batch's deadline check has run (in state saved before the flag was kept: its
    deadline has passed and no check is pending)."""
    if "raised" in batch or batch["deadline"] is None:
        return bool(batch.get("checked"))
    return bool(batch["deadline"] <= ctx.watermark and ctx.pending(batch["rule"], batch_id) is None)


THRESHOLDS: dict[str, type[Thresholds]] = {
    DisinfectionRule.IMPORT: Deadline,
    DisinfectionRule.DOMESTIC: Deadline,
    DisinfectionRule.COVERAGE: NoThresholds,
    DisinfectionRule.BEFORE_DISPATCH: NoThresholds,
    DisinfectionRule.REST_IMPORT: Rest,
}
FAMILY = RuleFamily(
    "物防：邮件快件批次消毒", "Parcels: batch disinfection", DisinfectionRule, THRESHOLDS, (Disinfection,)
)
