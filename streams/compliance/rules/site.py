"""Sites: who they are (from site.registered), and SITE-DISINFECT, SITE-ENV-SAMPLE, INSPECT-MONTHLY.

Any event at a site on a local day arms a check at the end of that day: fewer premises
disinfections than required raises SITE-DISINFECT for the day. Sites with international business
must sample the international area within an interval and be inspected every calendar month.
"""

from __future__ import annotations

import calendar

from schemas.envelope import Event
from schemas.parcels import EnvironmentSampled, PremisesDisinfected, SiteInspected
from schemas.registry import SiteRegistered
from streams.compliance.engine import SHANGHAI_OFFSET_MS, Context, day_label, day_start, local_day, to_datetime
from streams.compliance.rules.disinfection import ms_of

KEEP_DAYS = 62  # the horizon of late records: a day posted this late is still judged on its own records


class Sites:
    events: tuple[type[Event], ...] = (SiteRegistered, PremisesDisinfected, EnvironmentSampled, SiteInspected)

    def observe(self, ctx: Context, event: Event) -> None:
        at = ctx.now
        if isinstance(event, SiteRegistered):
            self._registered(ctx, event, at)
        elif isinstance(event, PremisesDisinfected):
            self._premises(ctx, event, at)
        elif isinstance(event, EnvironmentSampled) and event.payload.area == "international":
            self._sampled(ctx, event, at)
        elif isinstance(event, SiteInspected):
            self._inspected(ctx, event, at)

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        if rule_id == "SITE-DISINFECT":
            self._check_day(ctx, int(subject))
        elif rule_id == "SITE-ENV-SAMPLE":
            self._check_sample(ctx)
        elif rule_id == "INSPECT-MONTHLY":
            self._check_month(ctx, subject)

    def policy_changed(self, ctx: Context) -> None:
        data = ctx.data("SITE-ENV-SAMPLE")
        if ctx.site.get("international") and "last" in data and not ctx.is_open("SITE-ENV-SAMPLE", "area"):
            interval = ms_of(ctx.limits("SITE-ENV-SAMPLE", ctx.now).interval)
            ctx.schedule(data["last"] + interval, "SITE-ENV-SAMPLE", "area")

    def _registered(self, ctx: Context, event: SiteRegistered, at: int) -> None:
        payload = event.payload
        international = payload.handles_international or payload.site_kind == "international_processing"
        ctx.state["site"] = {
            "site_id": event.site_id,
            "enterprise_id": event.enterprise_id,
            "division_code": payload.division_code,
            "international": international,
        }
        if not international:
            return
        data = ctx.data("SITE-ENV-SAMPLE")
        data.setdefault("last", at)
        ctx.schedule(data["last"] + ms_of(ctx.limits("SITE-ENV-SAMPLE", at).interval), "SITE-ENV-SAMPLE", "area")
        month = _month(at)
        ctx.schedule(_month_end(month), "INSPECT-MONTHLY", month)

    def _premises(self, ctx: Context, event: PremisesDisinfected, at: int) -> None:
        day = local_day(at)
        days = ctx.data("SITE-DISINFECT").setdefault("days", {})
        days[str(day)] = days.get(str(day), 0) + 1
        for old in [d for d in days if int(d) < day - KEEP_DAYS]:
            del days[old]
        if days[str(day)] >= ctx.limits("SITE-DISINFECT", at).per_day:
            ctx.resolve_alert("SITE-DISINFECT", str(day), [str(event.event_id)], action_at=at)

    def _check_day(self, ctx: Context, day: int) -> None:
        data = ctx.data("SITE-DISINFECT")
        judged = data.setdefault("judged", {})
        judged[str(day)] = 1
        for old in [d for d in judged if int(d) < day - KEEP_DAYS]:
            del judged[old]
        required = ctx.limits("SITE-DISINFECT", day_start(day)).per_day
        done = ctx.data("SITE-DISINFECT").get("days", {}).get(str(day), 0)
        if done < required:
            ctx.raise_alert(
                "SITE-DISINFECT",
                "site",
                str(day),
                day_start(day + 1),
                [],
                {"day": day_label(day), "disinfections": done, "required": required},
            )

    def _sampled(self, ctx: Context, event: EnvironmentSampled, at: int) -> None:
        data = ctx.data("SITE-ENV-SAMPLE")
        data["last"] = max(data.get("last", at), at)
        ctx.resolve_alert("SITE-ENV-SAMPLE", "area", [str(event.event_id)], action_at=at)
        if ctx.site.get("international"):
            interval = ms_of(ctx.limits("SITE-ENV-SAMPLE", at).interval)
            ctx.schedule(data["last"] + interval, "SITE-ENV-SAMPLE", "area")

    def _check_sample(self, ctx: Context) -> None:
        last = ctx.data("SITE-ENV-SAMPLE")["last"]
        interval = ms_of(ctx.limits("SITE-ENV-SAMPLE", ctx.now).interval)
        if last + interval <= ctx.now:
            ctx.raise_alert(
                "SITE-ENV-SAMPLE", "site", "area", last + interval, [], {"last_sample": to_datetime(last).isoformat()}
            )
        else:
            ctx.schedule(last + interval, "SITE-ENV-SAMPLE", "area")

    def _inspected(self, ctx: Context, event: SiteInspected, at: int) -> None:
        months = ctx.data("INSPECT-MONTHLY").setdefault("months", {})
        month = _month(at)
        months[month] = months.get(month, 0) + 1
        if months[month] >= ctx.limits("INSPECT-MONTHLY", at).per_month:
            ctx.resolve_alert("INSPECT-MONTHLY", month, [str(event.event_id)], action_at=at)

    def _check_month(self, ctx: Context, month: str) -> None:
        months = ctx.data("INSPECT-MONTHLY").setdefault("months", {})
        required = ctx.limits("INSPECT-MONTHLY", ctx.now).per_month
        if months.get(month, 0) < required:
            ctx.raise_alert("INSPECT-MONTHLY", "site", month, _month_end(month), [], {"month": month, "inspections": 0})
        for old in sorted(months)[:-3]:
            del months[old]
        following = _month(_month_end(month))
        ctx.schedule(_month_end(following), "INSPECT-MONTHLY", following)


class ActiveDays:
    """Arms SITE-DISINFECT for every local day on which the site recorded anything."""

    def __init__(self, event_types: tuple[type[Event], ...]) -> None:
        self.events = event_types

    def observe(self, ctx: Context, event: Event) -> None:
        day = local_day(ctx.now)
        # Each day once, also a day posted after it ended (judged at once, on what has come of it).
        if str(day) not in ctx.data("SITE-DISINFECT").get("judged", {}):
            ctx.schedule(day_start(day + 1), "SITE-DISINFECT", str(day))

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        return None

    def policy_changed(self, ctx: Context) -> None:
        return None


def _month(at: int) -> str:
    return to_datetime(at + SHANGHAI_OFFSET_MS).strftime("%Y-%m")


def _month_end(month: str) -> int:
    """The first instant of the following month, in Asia/Shanghai, in ms."""
    year, number = (int(part) for part in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return calendar.timegm((year, number, 1, 0, 0, 0)) * 1000 - SHANGHAI_OFFSET_MS
