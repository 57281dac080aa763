"""Sites: who they are (from site.registered), and SITE-DISINFECT, SITE-ENV-SAMPLE, INSPECT-MONTHLY.

Any event at a site on a local day arms a check at the end of that day: fewer premises
disinfections than required raises SITE-DISINFECT for the day. Sites with international business
must sample the international area within an interval and be inspected every calendar month.

SITE-ENV-SAMPLE is judged on the samples kept (up to the horizon), not on the latest one folded:
each interval — from the registration or a sample to the next sample — is a subject of its own,
so a sample posted late settles the interval it falls in, as it would have on time.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypedDict, cast

from pydantic import Field

from schemas.envelope import Event
from schemas.parcels import EnvironmentSampled, PremisesDisinfected, SiteInspected
from schemas.registry import SiteRegistered
from streams.compliance.activity import SITE_ACTIVITY
from streams.compliance.engine import (
    SHANGHAI_OFFSET_MS,
    TRACKED_ALERT_MS,
    Context,
    RuleFamily,
    day_label,
    day_start,
    local_day,
    ms_of,
    to_datetime,
)
from streams.compliance.rules.verdicts import Verdict, forget_judged, settle
from streams.compliance.thresholds import Duration, Thresholds

KEEP_DAYS = 62  # the horizon of late records: a day posted this late is still judged on its own records


class SiteRule(StrEnum):
    """The rules of this family (the catalogue holds their text and thresholds)."""

    DISINFECT = "SITE-DISINFECT"
    ENV_SAMPLE = "SITE-ENV-SAMPLE"
    INSPECT_MONTHLY = "INSPECT-MONTHLY"


class PerDay(Thresholds):
    per_day: int = Field(ge=1)


class Interval(Thresholds):
    interval: Duration


class PerMonth(Thresholds):
    per_month: int = Field(ge=1)


class EnvSamples(TypedDict, total=False):
    """SITE-ENV-SAMPLE's state: where the first interval starts, and the samples kept."""

    since: int  # the registration (or, in an earlier layout, `last`: the latest sample)
    last: int
    samples: list[list[Any]]  # [at (ms), event id], in order, back to the horizon


class DisinfectDays(TypedDict, total=False):
    """SITE-DISINFECT's state, by local day number: premises disinfections counted, days judged."""

    days: dict[str, int]
    judged: dict[str, int]


class Inspections(TypedDict, total=False):
    """INSPECT-MONTHLY's state: inspections counted by month ("YYYY-MM")."""

    months: dict[str, int]


def _env(ctx: Context) -> EnvSamples:
    return cast(EnvSamples, ctx.data(SiteRule.ENV_SAMPLE))


def _days(ctx: Context) -> DisinfectDays:
    return cast(DisinfectDays, ctx.data(SiteRule.DISINFECT))


def _months(ctx: Context) -> Inspections:
    return cast(Inspections, ctx.data(SiteRule.INSPECT_MONTHLY))


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
        check = CHECKS.get(rule_id)
        if check is not None:
            check(self, ctx, subject)

    def policy_changed(self, ctx: Context) -> None:
        if ctx.site.get("international"):
            for start in _sample_starts(ctx):  # a change of level may bring a sample due sooner
                _arm_sample(ctx, start)

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
        data = _env(ctx)
        data.setdefault("since", data.get("last", at))
        _arm_sample(ctx, data["since"])
        month = _month(at)
        ctx.schedule(_month_end(month), SiteRule.INSPECT_MONTHLY, month)

    def _premises(self, ctx: Context, event: PremisesDisinfected, at: int) -> None:
        day = local_day(at)
        days = _days(ctx).setdefault("days", {})
        days[str(day)] = days.get(str(day), 0) + 1
        for old in [d for d in days if int(d) < day - KEEP_DAYS]:
            del days[old]
        if days[str(day)] >= ctx.limits(SiteRule.DISINFECT, at, PerDay).per_day:
            ctx.resolve_alert(SiteRule.DISINFECT, str(day), [str(event.event_id)], action_at=at)

    def _check_day(self, ctx: Context, subject: str) -> None:
        day = int(subject)
        data = _days(ctx)
        judged = data.setdefault("judged", {})
        judged[str(day)] = 1
        for old in [d for d in judged if int(d) < day - KEEP_DAYS]:
            del judged[old]
        required = ctx.limits(SiteRule.DISINFECT, day_start(day), PerDay).per_day
        done = _days(ctx).get("days", {}).get(str(day), 0)
        if done < required:
            ctx.raise_alert(
                SiteRule.DISINFECT,
                "site",
                str(day),
                day_start(day + 1),
                [],
                {"day": day_label(day), "disinfections": done, "required": required},
            )

    def _sampled(self, ctx: Context, event: EnvironmentSampled, at: int) -> None:
        samples = _env(ctx).setdefault("samples", [])
        if [at, str(event.event_id)] in samples:
            return  # the same record read again
        samples.insert(bisect_left(samples, [at, str(event.event_id)]), [at, str(event.event_id)])
        horizon = ctx.watermark - TRACKED_ALERT_MS
        if len(samples) > 1 and samples[0][0] < horizon:
            while len(samples) > 1 and samples[0][0] < horizon:
                del samples[0]
            forget_judged(ctx)
        if not ctx.site.get("international"):
            return
        starts = _sample_starts(ctx)
        if at not in starts:
            return  # posted past the horizon: released at once, it settles nothing
        index = starts.index(at)
        for start in starts[max(index - 1, 0) : index + 1]:  # the interval it ends, and the one it starts
            _arm_sample(ctx, start)

    def _check_sample(self, ctx: Context, subject: str) -> None:
        """The interval from a sample (or the registration) to the next sample, judged on the samples
        as they stand: a sample posted late settles it or splits it in two."""
        start = int(subject.partition("|")[2] or -1)
        if start not in _sample_starts(ctx):
            return  # past the horizon, or an earlier layout's check
        due = _sample_due(ctx, start)
        later = [sample for sample in _env(ctx).get("samples", []) if sample[0] > start]
        following = later[0] if later else None
        details = {"last_sample": to_datetime(start).isoformat()}
        if following is None or following[0] > due:
            settled_at, settled_by = (None, []) if following is None else (following[0], [following[1]])
            settle(ctx, SiteRule.ENV_SAMPLE, "site", subject, Verdict(due, True, [], details, settled_at, settled_by))
        else:
            settle(ctx, SiteRule.ENV_SAMPLE, "site", subject, Verdict(due, False, settled_by=[following[1]]))

    def _inspected(self, ctx: Context, event: SiteInspected, at: int) -> None:
        months = _months(ctx).setdefault("months", {})
        month = _month(at)
        months[month] = months.get(month, 0) + 1
        if months[month] >= ctx.limits(SiteRule.INSPECT_MONTHLY, at, PerMonth).per_month:
            ctx.resolve_alert(SiteRule.INSPECT_MONTHLY, month, [str(event.event_id)], action_at=at)

    def _check_month(self, ctx: Context, month: str) -> None:
        months = _months(ctx).setdefault("months", {})
        required = ctx.limits(SiteRule.INSPECT_MONTHLY, ctx.now, PerMonth).per_month
        done = months.get(month, 0)
        if done < required:
            details = {"month": month, "inspections": done, "required": required}
            ctx.raise_alert(SiteRule.INSPECT_MONTHLY, "site", month, _month_end(month), [], details)
        for old in sorted(months)[:-3]:
            del months[old]
        following = _month(_month_end(month))
        ctx.schedule(_month_end(following), SiteRule.INSPECT_MONTHLY, following)


# The check each rule runs when its time comes (a rule of this family, one handler).
CHECKS: dict[str, Callable[[Sites, Context, str], None]] = {
    SiteRule.DISINFECT: Sites._check_day,
    SiteRule.ENV_SAMPLE: Sites._check_sample,
    SiteRule.INSPECT_MONTHLY: Sites._check_month,
}


class ActiveDays:
    """Arms SITE-DISINFECT for every local day on which the site recorded anything."""

    events: tuple[type[Event], ...] = SITE_ACTIVITY

    def observe(self, ctx: Context, event: Event) -> None:
        day = local_day(ctx.now)
        # Each day once, also a day posted after it ended (judged at once, on what has come of it).
        if str(day) not in _days(ctx).get("judged", {}):
            ctx.schedule(day_start(day + 1), SiteRule.DISINFECT, str(day))

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        return None

    def policy_changed(self, ctx: Context) -> None:
        return None


def _sample_starts(ctx: Context) -> list[int]:
    """Where the sampling intervals start: the registration, then each sample (in event time)."""
    data = _env(ctx)
    since = data.get("since")
    samples = [sample[0] for sample in data.get("samples", [])]
    return sorted({*samples, *([since] if since is not None else [])})


def _sample_due(ctx: Context, start: int) -> int:
    """When the next sample is due: the interval in force at `start`, or a shorter one that comes
    into force (a response level) before that."""
    due = start + ms_of(ctx.limits(SiteRule.ENV_SAMPLE, start, Interval).interval)
    for change in ctx.engine.policy.changes(ctx.site.get("division_code", "")):
        if start < change < due:
            due = min(due, start + ms_of(ctx.limits(SiteRule.ENV_SAMPLE, change, Interval).interval))
    return due


def _arm_sample(ctx: Context, start: int) -> None:
    ctx.schedule(_sample_due(ctx, start), SiteRule.ENV_SAMPLE, f"area|{start}")


def _month(at: int) -> str:
    return to_datetime(at + SHANGHAI_OFFSET_MS).strftime("%Y-%m")


def _month_end(month: str) -> int:
    """The first instant of the following month, in Asia/Shanghai, in ms."""
    year, number = (int(part) for part in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return calendar.timegm((year, number, 1, 0, 0, 0)) * 1000 - SHANGHAI_OFFSET_MS


THRESHOLDS: dict[str, type[Thresholds]] = {
    SiteRule.DISINFECT: PerDay,
    SiteRule.ENV_SAMPLE: Interval,
    SiteRule.INSPECT_MONTHLY: PerMonth,
}
FAMILY = RuleFamily(
    "场所：网点消杀、环境采样与检查",
    "Premises: disinfection, environment samples, inspections",
    SiteRule,
    THRESHOLDS,
    (Sites, ActiveDays),
)
