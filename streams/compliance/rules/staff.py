"""People (人防): STAFF-CHECK, STAFF-FEVER, STAFF-WORKED-SICK, STAFF-TEST-DUE, STAFF-POSITIVE and
VEH-DRIVER-TEST, over the staff enrolled at a site.

A shift started arms a check at the day's cut-off (or at the shift, if later): no passing health
check that day by then raises STAFF-CHECK. A failed check raises STAFF-FEVER, and a shift after it
the same day STAFF-WORKED-SICK. Each active worker has a test due time by role; passing it with no
negative test raises STAFF-TEST-DUE. A positive result raises STAFF-POSITIVE listing who was on
duty at the site and which vehicles called there within the contact window. A departure from the
site that employs the driver, with no negative test of the driver within the window, raises
VEH-DRIVER-TEST (at other stops of the loop the driver's tests are not known).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Literal, TypedDict

from pydantic import Field

from schemas.envelope import Event
from schemas.health import StaffHealthChecked, StaffShiftStarted, StaffTested
from schemas.registry import StaffEnrolled, StaffLeft, StaffRole
from schemas.vehicles import VehicleArrived, VehicleDeparted
from streams.compliance.engine import (
    DAY_MS,
    Context,
    RuleFamily,
    day_label,
    day_start,
    local_day,
    ms,
    ms_of,
    to_datetime,
)
from streams.compliance.thresholds import ClockTime, Duration, NoThresholds, Thresholds

CONTACT_KEEP_MS = 14 * DAY_MS


class StaffRule(StrEnum):
    """The rules of this family (the catalogue holds their text and thresholds)."""

    CHECK = "STAFF-CHECK"
    FEVER = "STAFF-FEVER"
    WORKED_SICK = "STAFF-WORKED-SICK"
    TEST_DUE = "STAFF-TEST-DUE"
    POSITIVE = "STAFF-POSITIVE"
    DRIVER_TEST = "VEH-DRIVER-TEST"


class Cutoff(Thresholds):
    cutoff: ClockTime


class Fever(Thresholds):
    fever_at: float = Field(ge=35.0, le=42.0)


class RoleIntervals(Thresholds):
    intervals: dict[
        Literal["international_exposed", "international_handler", "courier", "sorter", "driver", "other_logistics"],
        Duration,
    ]


class ContactWindow(Thresholds):
    contact_window: Duration


class TestWithin(Thresholds):
    test_within: Duration


class FailedCheck(TypedDict, total=False):
    event_id: str
    temperature: float
    symptoms: list[str]
    health_code: str


class Person(TypedDict, total=False):
    """A member of staff as the family keeps them (`ctx.data("staff")[staff_id]`); times in ms,
    days as local day numbers in strings."""

    role: StaffRole | None  # None until enrolled
    active: bool
    since: int | None  # enrolled at
    last_negative: int | None  # the latest negative test's sampling time
    negatives: list[int]  # negative tests sampled in the contact window, for drivers' departures
    positives: dict[str, str]  # sampled at -> event id, until STAFF-POSITIVE runs
    checked: dict[str, int]  # day -> the first passing check
    failed: dict[str, int]  # day -> the first failed check
    failed_checks: dict[str, FailedCheck]  # at -> the failed check, until STAFF-FEVER runs
    last_pass: int
    shifts: list[int]  # shift starts in the contact window
    shift_events: dict[str, str]  # shift start -> event id


def _people(ctx: Context) -> dict[str, Person]:
    people: dict[str, Person] = ctx.data("staff")
    return people


class Staff:
    events: tuple[type[Event], ...] = (
        StaffEnrolled,
        StaffLeft,
        StaffHealthChecked,
        StaffShiftStarted,
        StaffTested,
        VehicleArrived,
        VehicleDeparted,
    )

    def observe(self, ctx: Context, event: Event) -> None:
        at = ctx.now
        if isinstance(event, StaffEnrolled):
            self._enrolled(ctx, event, at)
        elif isinstance(event, StaffLeft):
            self._left(ctx, event.payload.staff_id)
        elif isinstance(event, StaffHealthChecked):
            self._checked(ctx, event, at)
        elif isinstance(event, StaffShiftStarted):
            self._shift(ctx, event, at)
        elif isinstance(event, StaffTested):
            self._tested(ctx, event, at)
        elif isinstance(event, (VehicleArrived, VehicleDeparted)):
            self._vehicle_called(ctx, event, at)

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        check = CHECKS.get(rule_id)
        if check is not None:
            check(self, ctx, subject)

    def policy_changed(self, ctx: Context) -> None:
        for staff_id, person in _people(ctx).items():
            self._arm_test_due(ctx, staff_id, person)

    # state ---------------------------------------------------------------------------------------

    def _person(self, ctx: Context, staff_id: str) -> Person:
        people = _people(ctx)
        if staff_id not in people:
            people[staff_id] = {
                "role": None,
                "active": True,
                "since": None,
                "last_negative": None,
                "checked": {},
                "failed": {},
                "shifts": [],
            }
        return people[staff_id]

    def _enrolled(self, ctx: Context, event: StaffEnrolled, at: int) -> None:
        person = self._person(ctx, event.payload.staff_id)
        person.update({"role": event.payload.role, "active": True, "since": at})
        self._arm_test_due(ctx, event.payload.staff_id, person)

    def _left(self, ctx: Context, staff_id: str) -> None:
        person = self._person(ctx, staff_id)
        person["active"] = False
        ctx.cancel(StaffRule.TEST_DUE, staff_id)
        ctx.resolve_alert(StaffRule.TEST_DUE, staff_id, [])

    # health checks and shifts -------------------------------------------------------------------

    def _checked(self, ctx: Context, event: StaffHealthChecked, at: int) -> None:
        payload = event.payload
        person = self._person(ctx, payload.staff_id)
        day = str(local_day(at))
        fever_at = ctx.limits(StaffRule.FEVER, at, Fever).fever_at
        failed = payload.temperature >= fever_at or bool(payload.symptoms) or payload.health_code != "green"
        if failed:
            person["failed"][day] = min(person["failed"].get(day, at), at)
            person.setdefault("failed_checks", {})[str(at)] = {
                "event_id": str(event.event_id),
                "temperature": payload.temperature,
                "symptoms": list(payload.symptoms),
                "health_code": payload.health_code,
            }
            ctx.schedule(at, StaffRule.FEVER, f"{payload.staff_id}|{at}")
            for shift in person["shifts"]:  # shifts of the day already judged, before this record came
                subject = f"{payload.staff_id}|{shift}"
                judged = ctx.pending(StaffRule.WORKED_SICK, subject) is None
                if judged and shift >= at and local_day(shift) == local_day(at):
                    self._worked_sick(ctx, subject)
            return
        person["last_pass"] = max(person.get("last_pass") or at, at)
        person["checked"][day] = min(person["checked"].get(day, at), at)
        _prune_days(person, local_day(at))
        for subject in ctx.open_subjects(StaffRule.CHECK):
            if subject == f"{payload.staff_id}|{day}":
                ctx.resolve_alert(StaffRule.CHECK, subject, [str(event.event_id)], action_at=at)
        for subject in ctx.open_subjects(StaffRule.FEVER):
            if subject.startswith(f"{payload.staff_id}|") and int(subject.split("|")[1]) < at:
                ctx.resolve_alert(StaffRule.FEVER, subject, [str(event.event_id)])

    def _shift(self, ctx: Context, event: StaffShiftStarted, at: int) -> None:
        staff_id = event.payload.staff_id
        person = self._person(ctx, staff_id)
        person["shifts"] = [s for s in person["shifts"] if s > at - CONTACT_KEEP_MS] + [at]
        events = person.get("shift_events", {})
        kept = {moment: event_id for moment, event_id in events.items() if int(moment) in person["shifts"]}
        person["shift_events"] = kept | {str(at): str(event.event_id)}
        day = local_day(at)
        cutoff = ctx.limits(StaffRule.CHECK, at, Cutoff).cutoff
        cutoff_at = day_start(day) + (cutoff.hour * 3600 + cutoff.minute * 60) * 1000
        ctx.schedule(max(cutoff_at, at), StaffRule.CHECK, f"{staff_id}|{day}")
        ctx.schedule(at, StaffRule.WORKED_SICK, f"{staff_id}|{at}")

    def _check_by_cutoff(self, ctx: Context, subject: str) -> None:
        staff_id, day = subject.split("|")
        checked = self._person(ctx, staff_id)["checked"].get(day)
        if checked is None or checked > ctx.now:
            ctx.raise_alert(
                StaffRule.CHECK, "staff", subject, ctx.now, [], {"staff_id": staff_id, "day": day_label(int(day))}
            )
            if checked is not None:  # checked after the cut-off, already on record
                ctx.resolve_alert(StaffRule.CHECK, subject, [], action_at=checked)

    def _fever(self, ctx: Context, subject: str) -> None:
        staff_id, at = subject.split("|")
        check = self._person(ctx, staff_id).get("failed_checks", {}).pop(at, None)
        if check is None:
            return
        event_id = check.pop("event_id")
        ctx.raise_alert(StaffRule.FEVER, "staff", subject, int(at), [event_id], {"staff_id": staff_id, **check})
        passed = self._person(ctx, staff_id).get("last_pass")
        if passed is not None and passed > int(at):  # a passing check after it was on record first
            ctx.resolve_alert(StaffRule.FEVER, subject, [event_id])

    def _worked_sick(self, ctx: Context, subject: str) -> None:
        staff_id, at = subject.split("|")
        person = self._person(ctx, staff_id)
        failed = person["failed"].get(str(local_day(int(at))))
        shift_event = person.get("shift_events", {}).get(at, "")
        if failed is not None and failed <= int(at):
            ctx.raise_alert(
                StaffRule.WORKED_SICK, "staff", subject, int(at), [shift_event], {"staff_id": staff_id}, track=False
            )

    # tests ----------------------------------------------------------------------------------------

    def _tested(self, ctx: Context, event: StaffTested, at: int) -> None:
        payload = event.payload
        person = self._person(ctx, payload.staff_id)
        sampled = ms(payload.sampled_at)
        if payload.result == "positive":
            person.setdefault("positives", {})[str(sampled)] = str(event.event_id)
            ctx.schedule(at, StaffRule.POSITIVE, f"{payload.staff_id}|{sampled}")
            return
        # A test older than the latest on record (posted late) moves no due time and settles nothing.
        newer = person["last_negative"] is None or sampled > person["last_negative"]
        due = ctx.pending(StaffRule.TEST_DUE, payload.staff_id)
        if newer and due is not None and sampled > due:  # overdue, but the check has not run yet: settle it as late
            self._test_due(ctx, payload.staff_id, at=due)
        person["last_negative"] = max(person["last_negative"] or sampled, sampled)
        # What a driver's departures are judged against, whichever came first: tests of the last weeks.
        person["negatives"] = [s for s in person.get("negatives", []) if s > sampled - CONTACT_KEEP_MS] + [sampled]
        for subject in ctx.open_subjects(StaffRule.DRIVER_TEST):
            driver, departed, _ = subject.split("|")
            within = ms_of(ctx.limits(StaffRule.DRIVER_TEST, int(departed), TestWithin).test_within)
            if driver == payload.staff_id and int(departed) - within <= sampled <= int(departed):
                ctx.resolve_alert(StaffRule.DRIVER_TEST, subject, [str(event.event_id)], action_at=sampled)
        if newer:
            ctx.resolve_alert(StaffRule.TEST_DUE, payload.staff_id, [str(event.event_id)], action_at=sampled)
            self._arm_test_due(ctx, payload.staff_id, person)

    def _arm_test_due(self, ctx: Context, staff_id: str, person: Person) -> None:
        role = person["role"]
        if not person["active"] or role is None:
            return
        if ctx.is_open(StaffRule.TEST_DUE, staff_id):
            return
        base = person["last_negative"] or person["since"]
        if base is None:  # enrolled: `since` is set
            return
        ctx.schedule(base + self._interval(ctx, role, max(base, ctx.now)), StaffRule.TEST_DUE, staff_id)

    def _interval(self, ctx: Context, role: StaffRole, at: int) -> int:
        return ms_of(ctx.limits(StaffRule.TEST_DUE, at, RoleIntervals).intervals[role])

    def _test_due(self, ctx: Context, staff_id: str, at: int | None = None) -> None:
        person = self._person(ctx, staff_id)
        role = person["role"]
        if not person["active"] or role is None:
            return
        now = ctx.now if at is None else at
        base = person["last_negative"] or person["since"]
        if base is None:  # enrolled: `since` is set
            return
        due = base + self._interval(ctx, role, now)
        if due > now:  # a stricter or looser profile moved it: check again then
            ctx.schedule(due, StaffRule.TEST_DUE, staff_id)
            return
        ctx.raise_alert(
            StaffRule.TEST_DUE,
            "staff",
            staff_id,
            due,
            [],
            {"staff_id": staff_id, "role": person["role"], "last_negative": _iso(person["last_negative"])},
        )

    def _positive(self, ctx: Context, subject: str) -> None:
        staff_id, sampled = subject.split("|")
        person = self._person(ctx, staff_id)
        event_id = person.get("positives", {}).pop(sampled, "")
        window = ms_of(ctx.limits(StaffRule.POSITIVE, int(sampled), ContactWindow).contact_window)
        since = int(sampled) - window
        people = _people(ctx)
        on_duty = sorted(
            other for other, data in people.items() if other != staff_id and any(s >= since for s in data["shifts"])
        )
        vehicles = sorted({v for v, at in ctx.data("vehicles_called").get("calls", []) if at >= since})
        ctx.raise_alert(
            StaffRule.POSITIVE,
            "staff",
            subject,
            int(sampled),
            [event_id],
            {
                "staff_id": staff_id,
                "contacts_staff": on_duty,
                "contacts_vehicles": vehicles,
                "window_days": window / DAY_MS,
            },
            track=False,
        )

    # vehicles at the site ---------------------------------------------------------------------------

    def _vehicle_called(self, ctx: Context, event: VehicleArrived | VehicleDeparted, at: int) -> None:
        calls = ctx.data("vehicles_called").setdefault("calls", [])
        calls[:] = [c for c in calls if c[1] > at - CONTACT_KEEP_MS]
        calls.append([event.payload.vehicle_id, at])
        if isinstance(event, VehicleDeparted):
            subject = f"{event.payload.driver_id}|{at}|{event.payload.vehicle_id}"
            ctx.data("departures")[subject] = str(event.event_id)
            ctx.schedule(at, StaffRule.DRIVER_TEST, subject)

    def _driver_test(self, ctx: Context, subject: str) -> None:
        driver, at, vehicle = subject.split("|")
        event_id = ctx.data("departures").pop(subject, "")
        if driver not in _people(ctx):
            return  # a stop on the loop: the driver's tests are known at the site that employs them
        person = _people(ctx)[driver]
        last = person.get("last_negative")
        within = ms_of(ctx.limits(StaffRule.DRIVER_TEST, int(at), TestWithin).test_within)
        # A test sampled within the window before the departure, whenever it was recorded (state saved
        # before the list was kept: the latest negative only).
        sampled = person.get("negatives", [last] if last is not None else [])
        if not any(int(at) - within <= moment <= int(at) for moment in sampled):
            ctx.raise_alert(
                StaffRule.DRIVER_TEST,
                "vehicle",
                subject,
                int(at),
                [event_id],
                {"driver_id": driver, "vehicle_id": vehicle, "last_negative": _iso(last)},
            )  # tracked: a test of the window recorded later settles it


# The check each rule runs when its time comes (a rule of this family, one handler).
CHECKS: dict[str, Callable[[Staff, Context, str], None]] = {
    StaffRule.CHECK: Staff._check_by_cutoff,
    StaffRule.FEVER: Staff._fever,
    StaffRule.WORKED_SICK: Staff._worked_sick,
    StaffRule.TEST_DUE: Staff._test_due,
    StaffRule.POSITIVE: Staff._positive,
    StaffRule.DRIVER_TEST: Staff._driver_test,
}


def _prune_days(person: Person, today: int) -> None:
    for days in (person["checked"], person["failed"]):
        for day in [d for d in days if int(d) < today - 7]:
            del days[day]


def _iso(millis: int | None) -> str | None:
    return None if millis is None else to_datetime(millis).isoformat()


THRESHOLDS: dict[str, type[Thresholds]] = {
    StaffRule.CHECK: Cutoff,
    StaffRule.FEVER: Fever,
    StaffRule.WORKED_SICK: NoThresholds,
    StaffRule.TEST_DUE: RoleIntervals,
    StaffRule.POSITIVE: ContactWindow,
    StaffRule.DRIVER_TEST: TestWithin,
}
FAMILY = RuleFamily(
    "人防：从业人员健康监测与核酸检测", "People: health checks and tests", StaffRule, THRESHOLDS, (Staff,)
)
