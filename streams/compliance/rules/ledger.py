"""LEDGER-LATE (台账补录): records received long after the facts they record, one alert per site
and local day of the facts.

Decided by each event alone (received_at minus occurred_at), so it is raised as the event is
folded; nothing can undo it, so it is not tracked as open. The first late record of a site-day
raises it; later ones of the same day add nothing to the log (a month of back-filled ledgers is a
month of alerts, not tens of thousands), and what a reader sees counts them all: the desk lists
the day's late records from the warehouse. The alert's id depends on the site and the day only,
so every path that judges the same records raises the same one.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.envelope import Event
from streams.compliance.activity import SITE_ACTIVITY
from streams.compliance.engine import (
    DAY_MS,
    TRACKED_ALERT_MS,
    Context,
    RuleFamily,
    day_label,
    day_start,
    local_day,
    ms,
    ms_of,
)
from streams.compliance.thresholds import Duration, Thresholds


class LedgerRule(StrEnum):
    """The rules of this family (the catalogue holds their text and thresholds)."""

    LATE = "LEDGER-LATE"


class MaxDelay(Thresholds):
    max_delay: Duration


class LedgerLate:
    """LEDGER-LATE: a record of the site's own activity received too long after what it records."""

    events: tuple[type[Event], ...] = SITE_ACTIVITY

    def observe(self, ctx: Context, event: Event) -> None:
        if event.received_at is None:
            return
        occurred, received = ctx.now, ms(event.received_at)
        allowed = ms_of(ctx.limits(LedgerRule.LATE, occurred, MaxDelay).max_delay)
        if received - occurred <= allowed:
            return
        day = local_day(occurred)
        raised: dict[str, int] = ctx.data("ledger_late")  # local day -> when its first late record came
        if str(day) in raised:
            return
        raised[str(day)] = received
        _forget_old_days(raised, ctx.watermark)
        # When the day's last record was due at the latest, by the profile in force as the day
        # began: the same whichever of its records came first.
        deadline = day_start(day + 1) + ms_of(ctx.limits(LedgerRule.LATE, day_start(day), MaxDelay).max_delay)
        ctx.raise_alert(
            LedgerRule.LATE,
            "site",
            day_label(day),
            deadline,
            [str(event.event_id)],
            {
                "day": day_label(day),
                "first_event_type": type(event).__name__,
                "delay_hours": round((received - occurred) / 3_600_000, 1),
                "max_delay_hours": round(allowed / 3_600_000, 1),
            },
            at=received,
            track=False,
        )

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        return None

    def policy_changed(self, ctx: Context) -> None:
        return None


def _forget_old_days(raised: dict[str, int], watermark: int) -> None:
    """Days raised beyond the horizon ago: raising one again gives the same alert id, which the
    alert sink and the notifier keep once."""
    if len(raised) > 64:
        for day in [day for day, at in raised.items() if at < watermark - TRACKED_ALERT_MS - DAY_MS]:
            del raised[day]


THRESHOLDS: dict[str, type[Thresholds]] = {
    LedgerRule.LATE: MaxDelay,
}
FAMILY = RuleFamily("台账：补录", "Ledgers: records posted late", LedgerRule, THRESHOLDS, (LedgerLate,))
