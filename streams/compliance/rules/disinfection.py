"""Parcel batches (物防): DIS-IMPORT, DIS-DOMESTIC, DIS-COVERAGE, DIS-BEFORE-DISPATCH, REST-IMPORT.

A received batch gets a deadline (imported, or domestic from outside the city). When the watermark
passes it, a batch with no disinfection record by then raises the deadline rule; one disinfected
in part raises DIS-COVERAGE. A dispatch is checked at its own time: no disinfection before it
raises DIS-BEFORE-DISPATCH, and an imported batch leaving before its rest period, REST-IMPORT.
A later disinfection record resolves the open alerts, marked late. A batch's state (and the
tracking of its open alerts) is released when its retention has passed and no check is pending.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from schemas.envelope import Event
from schemas.parcels import ParcelsDisinfected, ParcelsDispatched, ParcelsReceived
from streams.compliance.engine import Context

RETENTION_MS = int(timedelta(days=8) / timedelta(milliseconds=1))
DEADLINE_RULES = ("DIS-IMPORT", "DIS-DOMESTIC")
RELEASE = "_release-batch"


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
        batch = ctx.data("batches").get(subject)
        if batch is None:
            return
        if rule_id in DEADLINE_RULES:
            self._check_deadline(ctx, rule_id, subject, batch)
        elif rule_id == "DIS-BEFORE-DISPATCH":
            first = batch["first_disinfected"]
            if first is None or first > batch["dispatched"]:
                ctx.raise_alert(
                    rule_id,
                    "batch",
                    subject,
                    batch["dispatched"],
                    batch["evidence"],
                    _details(batch),
                    batch["dispatched"],
                )
        elif rule_id == "REST-IMPORT":
            rest = ms_of(ctx.limits(rule_id, batch["received"]).rest)
            if batch["dispatched"] < batch["received"] + rest:
                ctx.raise_alert(
                    rule_id,
                    "batch",
                    subject,
                    batch["dispatched"],
                    batch["evidence"],
                    {**_details(batch), "rest_hours": rest / 3_600_000},
                    track=False,
                )
        elif rule_id == RELEASE:
            self._release(ctx, subject)

    def policy_changed(self, ctx: Context) -> None:
        return None  # deadlines are fixed by the profile in force when the fact happened

    def _batch(self, ctx: Context, batch_id: str) -> dict[str, Any]:
        batches = ctx.data("batches")
        if batch_id not in batches:
            batches[batch_id] = {
                "received": None,
                "origin": None,
                "received_items": 0,
                "disinfected_items": 0,
                "first_disinfected": None,
                "dispatched": None,
                "deadline": None,
                "evidence": [],
            }
        batch: dict[str, Any] = batches[batch_id]
        return batch

    def _received(self, ctx: Context, event: ParcelsReceived) -> None:
        payload = event.payload
        batch = self._batch(ctx, payload.batch_id)
        at = ctx.now
        batch["received"] = at if batch["received"] is None else min(batch["received"], at)
        batch["origin"] = payload.origin
        batch["received_items"] += payload.item_count
        batch["evidence"].append(str(event.event_id))
        rule_id = _deadline_rule(event)
        if rule_id is not None:
            batch["deadline"] = batch["received"] + ms_of(ctx.limits(rule_id, batch["received"]).deadline)
            batch["rule"] = rule_id
            ctx.schedule(batch["deadline"], rule_id, payload.batch_id)
        ctx.schedule(batch["received"] + RETENTION_MS, RELEASE, payload.batch_id)

    def _disinfected(self, ctx: Context, event: ParcelsDisinfected) -> None:
        batch_id = event.payload.batch_id
        batch = self._batch(ctx, batch_id)
        at = ctx.now
        first = batch["first_disinfected"]
        batch["first_disinfected"] = at if first is None else min(first, at)
        batch["disinfected_items"] += event.payload.item_count
        evidence = [str(event.event_id)]
        batch["evidence"] += evidence
        for rule_id in DEADLINE_RULES:
            ctx.resolve_alert(rule_id, batch_id, evidence, action_at=at)
        if batch["disinfected_items"] >= batch["received_items"]:
            ctx.resolve_alert("DIS-COVERAGE", batch_id, evidence, action_at=at)
        if batch["dispatched"] is not None and at <= batch["dispatched"]:
            ctx.resolve_alert("DIS-BEFORE-DISPATCH", batch_id, evidence, action_at=at)

    def _dispatched(self, ctx: Context, event: ParcelsDispatched) -> None:
        batch_id = event.payload.batch_id
        batch = self._batch(ctx, batch_id)
        at = ctx.now
        batch["dispatched"] = at if batch["dispatched"] is None else min(batch["dispatched"], at)
        batch["evidence"].append(str(event.event_id))
        ctx.schedule(batch["dispatched"], "DIS-BEFORE-DISPATCH", batch_id)
        if batch["origin"] == "imported" and batch["received"] is not None:
            ctx.schedule(batch["dispatched"], "REST-IMPORT", batch_id)
        if batch["received"] is None:
            ctx.schedule(at + RETENTION_MS, RELEASE, batch_id)

    def _check_deadline(self, ctx: Context, rule_id: str, batch_id: str, batch: dict[str, Any]) -> None:
        first, deadline = batch["first_disinfected"], batch["deadline"]
        if first is None or first > deadline:
            ctx.raise_alert(rule_id, "batch", batch_id, deadline, batch["evidence"], _details(batch))
            if first is not None:  # disinfected late, and already on record: the alert is settled as late
                ctx.resolve_alert(rule_id, batch_id, batch["evidence"], action_at=first)
        elif batch["disinfected_items"] < batch["received_items"]:
            ctx.raise_alert("DIS-COVERAGE", "batch", batch_id, deadline, batch["evidence"], _details(batch))

    def _release(self, ctx: Context, batch_id: str) -> None:
        if ctx.pending_for(batch_id):
            ctx.schedule(ctx.now + RETENTION_MS, RELEASE, batch_id)
            return
        del ctx.data("batches")[batch_id]
        ctx.forget(batch_id)


def _deadline_rule(event: ParcelsReceived) -> str | None:
    if event.payload.origin == "imported":
        return "DIS-IMPORT"
    if event.payload.from_outside_city:
        return "DIS-DOMESTIC"
    return None


def _details(batch: dict[str, Any]) -> dict[str, Any]:
    return {
        "origin": batch["origin"],
        "received_items": batch["received_items"],
        "disinfected_items": batch["disinfected_items"],
    }


@cache  # the catalogue's few durations, asked for about once an event (1.7 % of the worker in a burst)
def ms_of(duration: timedelta) -> int:
    return int(duration / timedelta(milliseconds=1))
