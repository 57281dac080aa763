"""LEDGER-LATE (台账补录): a record received long after the fact it records.

Decided by the event alone (received_at minus occurred_at), so it is raised as the event is
folded; nothing can undo it, so it is not tracked as open.
"""

from __future__ import annotations

from schemas.envelope import Event
from streams.compliance.engine import Context, ms
from streams.compliance.rules.disinfection import ms_of


class LedgerLate:
    def __init__(self, event_types: tuple[type[Event], ...]) -> None:
        self.events = event_types

    def observe(self, ctx: Context, event: Event) -> None:
        if event.received_at is None:
            return
        occurred, received = ctx.now, ms(event.received_at)
        allowed = ms_of(ctx.limits("LEDGER-LATE", occurred).max_delay)
        if received - occurred > allowed:
            ctx.raise_alert(
                "LEDGER-LATE",
                "event",
                str(event.event_id),
                occurred + allowed,
                [str(event.event_id)],
                {"event_type": type(event).__name__, "delay_hours": round((received - occurred) / 3_600_000, 1)},
                at=received,
                track=False,
            )

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        return None

    def policy_changed(self, ctx: Context) -> None:
        return None
