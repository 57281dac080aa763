"""STAFF-CHECK, STAFF-FEVER, STAFF-WORKED-SICK, STAFF-TEST-DUE, STAFF-POSITIVE, VEH-DRIVER-TEST."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import DRIVER, PSEUDONYM
from tests.unit.rules_harness import Harness, at, ev, policy, site

OTHER = "ps_11111111111111111111111111111111"


def enrolled(role: str = "courier", when=None, staff: str = PSEUDONYM):
    return ev("staff.enrolled", {"staff_id": staff, "role": role, "employer": "direct"}, when or at(days=-1))


def checked(when, temperature: float = 36.6, code: str = "green", staff: str = PSEUDONYM, symptoms=()):
    payload = {"staff_id": staff, "temperature": temperature, "health_code": code, "symptoms": list(symptoms)}
    return ev("staff.health_checked", payload, when)


def shift(when, staff: str = PSEUDONYM):
    return ev("staff.shift_started", {"staff_id": staff}, when)


def lab_result(sampled, result: str = "negative", staff: str = PSEUDONYM, when=None):
    payload = {"staff_id": staff, "test_kind": "nucleic_acid", "sampled_at": sampled.isoformat(), "result": result}
    return ev("staff.tested", payload, when or sampled)


def departed(when, driver: str = DRIVER):
    payload = {"vehicle_id": "V-1", "route_id": "R-1", "seal_id": "S-1", "driver_id": driver}
    return ev("vehicle.departed", payload, when)


def test_on_duty_without_check_by_10_raises_staff_check():
    h = Harness()
    h.feed(site(), enrolled(), shift(at(minutes=-30)))  # 07:30 shift, cut-off 10:00
    h.tick(at(hours=2, minutes=6))
    [alert] = h.raised("STAFF-CHECK")
    assert alert.details["staff_id"] == PSEUDONYM


def test_check_before_cutoff_raises_nothing_and_late_check_resolves_late():
    h = Harness()
    h.feed(site(), enrolled(), shift(at(minutes=-30)), checked(at(minutes=-40)))
    h.tick(at(hours=3))
    assert h.raised("STAFF-CHECK") == []
    h2 = Harness()
    h2.feed(site(), enrolled(), shift(at(minutes=-30)))
    h2.tick(at(hours=3))
    h2.feed(checked(at(minutes=-40)))
    assert h2.resolved("STAFF-CHECK")[0].late_reason == "record_after_deadline"


def test_check_recorded_out_of_order_within_lateness_counts():
    h = Harness()
    h.feed(site(), enrolled(), shift(at(hours=1)), checked(at(hours=2, minutes=3)))
    h.feed(checked(at(hours=1, minutes=59)))
    h.tick(at(hours=4))
    assert h.raised("STAFF-CHECK") == []


def test_fever_symptom_or_yellow_code_raises_staff_fever_and_normal_check_resolves():
    h = Harness()
    h.feed(site(), enrolled(), checked(at(), temperature=37.3))
    h.feed(checked(at(minutes=1), temperature=36.5, code="yellow", staff=OTHER))
    h.feed(checked(at(minutes=2), temperature=36.2, staff="ps_22222222222222222222222222222222", symptoms=["cough"]))
    h.feed(checked(at(minutes=3), temperature=37.2, staff="ps_33333333333333333333333333333333"))
    h.tick(at(hours=1))
    assert len(h.raised("STAFF-FEVER")) == 3
    h.feed(checked(at(days=1), temperature=36.4))
    assert len(h.resolved("STAFF-FEVER")) == 1
    assert h.resolved("STAFF-FEVER")[0].late is False


def test_shift_after_failed_check_raises_worked_sick_and_not_before():
    h = Harness()
    h.feed(site(), enrolled(), shift(at(minutes=-60)), checked(at(), temperature=38.1), shift(at(minutes=30)))
    h.tick(at(hours=2))
    [alert] = h.raised("STAFF-WORKED-SICK")
    assert alert.subject_id.endswith(str(int(at(minutes=30).timestamp() * 1000)))


def test_courier_without_negative_test_for_7_days_raises_test_due():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-8)))
    h.tick(at(minutes=10))
    [alert] = h.raised("STAFF-TEST-DUE")
    assert alert.deadline == at(days=-1)
    h.feed(lab_result(at(hours=1)))
    assert h.resolved("STAFF-TEST-DUE")[0].late


def test_an_older_test_posted_late_settles_no_later_due_time():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-8)))
    h.tick(at(minutes=10))
    [alert] = h.raised("STAFF-TEST-DUE")  # due a week after the test of day -8
    h.feed(lab_result(at(days=-9)))  # an earlier test, posted now: it changes nothing
    assert h.resolved("STAFF-TEST-DUE") == []
    assert h.raised("STAFF-TEST-DUE") == [alert]


def test_recent_negative_test_raises_nothing_and_role_intervals_differ():
    h = Harness()
    h.feed(site(), enrolled("other_logistics", at(days=-10)), lab_result(at(days=-9)))
    h.feed(enrolled("international_exposed", at(days=-10), staff=OTHER), lab_result(at(days=-4), staff=OTHER))
    h.tick(at(minutes=10))
    # OTHER was untested from enrolment until day -4 (raised then resolved) and is due again at day -0.5
    assert {a.details["role"] for a in h.raised("STAFF-TEST-DUE")} == {"international_exposed"}
    assert len(h.resolved("STAFF-TEST-DUE")) == 1


def test_response_profile_makes_tests_due_every_2_days():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-3)), policy("response", at(days=-5)))
    h.tick(at(minutes=10))
    assert [a.profile for a in h.raised("STAFF-TEST-DUE")] == ["response"]


def test_positive_result_raises_with_contacts_on_duty_and_vehicles_that_called():
    h = Harness()
    h.feed(site(), enrolled(), enrolled(staff=OTHER), shift(at(days=-1), staff=OTHER))
    h.feed(shift(at(days=-10), staff="ps_44444444444444444444444444444444"))
    h.feed(ev("vehicle.arrived", {"vehicle_id": "V-9", "seal_intact": True}, at(days=-2)))
    h.feed(lab_result(at(), result="positive"))
    h.tick(at(hours=1))
    [alert] = h.raised("STAFF-POSITIVE")
    assert alert.details["contacts_staff"] == [OTHER]
    assert alert.details["contacts_vehicles"] == ["V-9"]
    assert alert.severity == "critical"


def test_negative_result_raises_no_positive_alert():
    h = Harness()
    h.feed(site(), enrolled(), lab_result(at()))
    h.tick(at(hours=1))
    assert h.raised("STAFF-POSITIVE") == []


def test_driver_departing_without_negative_test_in_24h_raises_driver_test():
    h = Harness()
    h.feed(site(), enrolled("driver", staff=DRIVER), lab_result(at(hours=-30), staff=DRIVER), departed(at()))
    h.tick(at(hours=1))
    [alert] = h.raised("VEH-DRIVER-TEST")
    assert alert.details["driver_id"] == DRIVER


def test_departure_from_a_stop_that_does_not_employ_the_driver_is_not_judged_there():
    h = Harness()
    h.feed(site(), departed(at()))
    h.tick(at(hours=1))
    assert h.raised("VEH-DRIVER-TEST") == []


def test_driver_with_test_recorded_out_of_order_within_lateness_is_fine():
    h = Harness()
    h.feed(site(), enrolled("driver", staff=DRIVER), departed(at()), lab_result(at(hours=-20), staff=DRIVER, when=at()))
    h.tick(at(hours=1))
    assert h.raised("VEH-DRIVER-TEST") == []


# Boundaries (the catalogue's text decides each).
MS = timedelta(milliseconds=1)


def test_a_check_exactly_at_the_cutoff_is_in_time_and_a_millisecond_later_is_late():
    on_time = Harness()
    on_time.feed(site(), enrolled(), shift(at(minutes=-30)), checked(at(hours=2)))  # 10:00 exactly
    on_time.tick(at(hours=4))
    assert on_time.raised("STAFF-CHECK") == []
    late = Harness()
    late.feed(site(), enrolled(), shift(at(minutes=-30)), checked(at(hours=2) + MS))
    late.tick(at(hours=4))
    [alert] = late.raised("STAFF-CHECK")
    assert (alert.subject_kind, alert.details) == ("staff", {"staff_id": PSEUDONYM, "day": "2026-11-23"})
    assert [r.late_reason for r in late.resolved("STAFF-CHECK")] == ["action_after_deadline"]


def test_a_failed_check_at_the_instant_of_the_shift_counts_as_before_it():
    h = Harness()
    h.feed(site(), enrolled(), checked(at(), temperature=38.2), shift(at()))
    h.tick(at(hours=1))
    [alert] = h.raised("STAFF-WORKED-SICK")
    assert (alert.subject_kind, alert.details) == ("staff", {"staff_id": PSEUDONYM})
    after = Harness()
    after.feed(site(), enrolled(), shift(at()), checked(at() + MS, temperature=38.2))
    after.tick(at(hours=1))
    assert after.raised("STAFF-WORKED-SICK") == []


def test_a_drivers_test_exactly_24_hours_old_is_valid_and_a_millisecond_older_is_not():
    valid = Harness()
    valid.feed(site(), enrolled("driver", staff=DRIVER), lab_result(at(hours=-24), staff=DRIVER), departed(at()))
    valid.tick(at(hours=1))
    assert valid.raised("VEH-DRIVER-TEST") == []
    stale = Harness()
    stale.feed(site(), enrolled("driver", staff=DRIVER), lab_result(at(hours=-24) - MS, staff=DRIVER), departed(at()))
    stale.tick(at(hours=1))
    [alert] = stale.raised("VEH-DRIVER-TEST")
    assert alert.details["driver_id"] == DRIVER


def test_a_fever_alert_names_the_check_and_what_it_found():
    h = Harness()
    failed = checked(at(), temperature=37.3, code="yellow")
    h.feed(site(), enrolled(), failed)
    h.tick(at(hours=1))
    [alert] = h.raised("STAFF-FEVER")
    assert (alert.subject_kind, alert.evidence) == ("staff", [failed["event_id"]])
    assert alert.details["staff_id"] == PSEUDONYM
    assert alert.details["temperature"] == 37.3
    assert alert.details["health_code"] == "yellow"


def test_a_temperature_at_the_threshold_is_a_fever_and_just_below_it_is_not():
    at_threshold = Harness()
    at_threshold.feed(site(), enrolled(), checked(at(), temperature=37.3))
    at_threshold.tick(at(hours=1))
    assert len(at_threshold.raised("STAFF-FEVER")) == 1
    below = Harness()
    below.feed(site(), enrolled(), checked(at(), temperature=37.2))
    below.tick(at(hours=1))
    assert below.raised("STAFF-FEVER") == []


# Behaviours an auditor reads: who, which record, which contacts.
def test_staff_who_left_owe_no_test_and_an_open_one_is_settled():
    gone = Harness()
    gone.feed(site(), enrolled("courier", at(days=-10)), ev("staff.left", {"staff_id": PSEUDONYM}, at(days=-9)))
    gone.tick(at(minutes=10))
    assert gone.raised("STAFF-TEST-DUE") == []
    owed = Harness()
    owed.feed(site(), enrolled("courier", at(days=-10)))
    owed.tick(at(minutes=10))  # due since day -3: raised
    [alert] = owed.raised("STAFF-TEST-DUE")
    owed.feed(ev("staff.left", {"staff_id": PSEUDONYM}, at(minutes=20)))
    [settled] = owed.resolved("STAFF-TEST-DUE")
    assert settled.alert_id == alert.alert_id
    owed.feed(policy("response", at(minutes=30)))  # a stricter profile arms no test for someone gone
    owed.tick(at(days=10))
    assert owed.raised("STAFF-TEST-DUE") == [alert]


def test_a_test_due_alert_names_the_role_and_the_last_negative():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-8)))
    h.tick(at(minutes=10))
    [alert] = h.raised("STAFF-TEST-DUE")
    assert (alert.subject_kind, alert.subject_id, alert.evidence) == ("staff", PSEUDONYM, [])
    assert alert.details == {"staff_id": PSEUDONYM, "role": "courier", "last_negative": "2026-11-15T00:00:00+00:00"}


def test_a_negative_sampled_after_the_due_time_but_posted_before_the_check_still_counts_as_late():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-8)))
    h.feed(lab_result(at(days=-0.5)))  # due at day -1; the check has not run (no tick yet)
    [alert] = h.raised("STAFF-TEST-DUE")
    assert alert.deadline == at(days=-1)
    [settled] = h.resolved("STAFF-TEST-DUE")
    assert (settled.late, settled.late_reason) == (True, "action_after_deadline")
    h.tick(at(days=1))
    assert h.raised("STAFF-TEST-DUE") == [alert]  # next due a week after day -0.5


def test_a_negative_sampled_before_the_due_time_and_posted_early_raises_nothing():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-8)), lab_result(at(days=-1) - MS))
    h.tick(at(days=1))
    assert h.raised("STAFF-TEST-DUE") == []


def test_worked_sick_names_the_shift_record():
    h = Harness()
    start = shift(at(minutes=30))
    h.feed(site(), enrolled(), checked(at(), temperature=38.1), start)
    h.tick(at(hours=1))
    [alert] = h.raised("STAFF-WORKED-SICK")
    assert alert.evidence == [start["event_id"]]
    assert alert.deadline == at(minutes=30)


def test_a_failed_check_posted_after_a_later_shift_was_judged_still_finds_it():
    h = Harness()
    h.feed(site(), enrolled(), shift(at(minutes=30)))
    h.tick(at(hours=1))
    h.feed(checked(at(), temperature=38.1))  # the check of 08:00, posted after the 08:30 shift was judged
    [alert] = h.raised("STAFF-WORKED-SICK")
    assert alert.subject_id == f"{PSEUDONYM}|{int(at(minutes=30).timestamp() * 1000)}"
    before = Harness()  # a shift that began before the failed check is not "worked sick"
    before.feed(site(), enrolled(), shift(at(minutes=-30)))
    before.tick(at(hours=1))
    before.feed(checked(at(), temperature=38.1))
    assert before.raised("STAFF-WORKED-SICK") == []
    other_day = Harness()  # nor a shift of the next day
    other_day.feed(site(), enrolled(), shift(at(days=1)))
    other_day.tick(at(days=1, hours=1))
    other_day.feed(checked(at(), temperature=38.1))
    assert other_day.raised("STAFF-WORKED-SICK") == []


def test_a_passing_check_settles_only_fevers_found_before_it():
    earlier = Harness()
    earlier.feed(site(), enrolled(), checked(at(minutes=-5)), checked(at(), temperature=38.0))
    earlier.tick(at(hours=1))
    assert len(earlier.raised("STAFF-FEVER")) == 1
    assert earlier.resolved("STAFF-FEVER") == []
    recorded_first = Harness()  # both on record before the fever alert fires: raised and settled at once
    recorded_first.feed(site(), enrolled(), checked(at(), temperature=38.0), checked(at(minutes=2)))  # not yet due
    recorded_first.tick(at(hours=1))
    [alert] = recorded_first.raised("STAFF-FEVER")
    [settled] = recorded_first.resolved("STAFF-FEVER")
    assert settled.alert_id == alert.alert_id


def test_a_positive_names_its_record_every_vehicle_and_the_window_edges():
    h = Harness()
    window = timedelta(days=3)  # contact_window of the catalogue
    h.feed(site(), enrolled(), enrolled(staff=OTHER), shift(at() - window, staff=OTHER))
    h.feed(shift(at() - window - MS, staff="ps_44444444444444444444444444444444"))
    h.feed(ev("vehicle.arrived", {"vehicle_id": "V-9", "seal_intact": True}, at(days=-2)))
    h.feed(ev("vehicle.arrived", {"vehicle_id": "V-8", "seal_intact": True}, at(days=-1)))
    h.feed(ev("vehicle.arrived", {"vehicle_id": "V-7", "seal_intact": True}, at() - window))
    positive = lab_result(at(), result="positive")
    h.feed(positive)
    h.tick(at(hours=1))
    [alert] = h.raised("STAFF-POSITIVE")
    assert (alert.subject_kind, alert.subject_id) == ("staff", f"{PSEUDONYM}|{int(at().timestamp() * 1000)}")
    assert [name for name in h.sites.states["site-a1"]["open"] if "STAFF-POSITIVE" in name] == []  # not tracked
    assert alert.evidence == [positive["event_id"]]
    assert alert.details == {
        "staff_id": PSEUDONYM,
        "contacts_staff": [OTHER],
        "contacts_vehicles": ["V-7", "V-8", "V-9"],
        "window_days": 3.0,
    }


def test_a_positive_at_a_site_no_vehicle_called_at_lists_no_vehicles():
    h = Harness()
    h.feed(site(), enrolled(), lab_result(at(), result="positive"))
    h.tick(at(hours=1))
    [alert] = h.raised("STAFF-POSITIVE")
    assert (alert.details["contacts_staff"], alert.details["contacts_vehicles"]) == ([], [])


def test_a_negative_sampled_just_after_the_due_time_and_posted_before_the_check_runs_is_late():
    """Due at day -1; sampled a minute later and on record within the allowed lateness, before the
    clock passed the due time: the check runs on it and finds it late, not in time."""
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), lab_result(at(days=-8)))
    h.feed(lab_result(at(days=-1, minutes=1), when=at(days=-1, minutes=2)))
    [alert] = h.raised("STAFF-TEST-DUE")
    assert alert.deadline == at(days=-1)
    [settled] = h.resolved("STAFF-TEST-DUE")
    assert (settled.late, settled.late_reason) == (True, "action_after_deadline")


def test_a_pass_at_the_instant_of_a_failed_check_does_not_settle_it():
    h = Harness()
    h.feed(site(), enrolled(), checked(at(), temperature=38.0), checked(at()))
    h.tick(at(hours=1))
    assert len(h.raised("STAFF-FEVER")) == 1
    assert h.resolved("STAFF-FEVER") == []


def test_a_departure_posted_late_is_judged_on_every_test_of_the_window_not_the_latest():
    h = Harness()
    h.feed(site(), enrolled("driver", staff=DRIVER), lab_result(at(hours=-20), staff=DRIVER))
    h.feed(lab_result(at(hours=2), staff=DRIVER))  # a newer test, sampled after the departure
    h.feed(departed(at()), received=at(hours=3))
    h.tick(at(hours=4))
    assert h.raised("VEH-DRIVER-TEST") == []


def test_staff_enrolled_again_after_leaving_owe_tests_again():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-30)), ev("staff.left", {"staff_id": PSEUDONYM}, at(days=-29)))
    h.feed(enrolled("courier", at(days=-10)))  # back at work
    h.tick(at(minutes=10))
    [alert] = h.raised("STAFF-TEST-DUE")
    assert alert.deadline == at(days=-3)


def test_a_test_posted_for_someone_who_has_left_arms_nothing():
    h = Harness()
    h.feed(site(), enrolled("courier", at(days=-10)), ev("staff.left", {"staff_id": PSEUDONYM}, at(days=-9)))
    h.feed(lab_result(at(days=-9, hours=-2)), received=at(days=-1))  # sampled before leaving, posted late
    h.tick(at(days=5))
    assert h.raised("STAFF-TEST-DUE") == []


def test_a_failed_check_posted_late_finds_a_shift_begun_at_its_instant():
    h = Harness()
    h.feed(site(), enrolled(), shift(at()))
    h.tick(at(hours=1))
    h.feed(checked(at(), temperature=38.1))  # the check of 08:00, as the 08:00 shift began
    [alert] = h.raised("STAFF-WORKED-SICK")
    assert alert.subject_id == f"{PSEUDONYM}|{int(at().timestamp() * 1000)}"


def test_a_drivers_negative_sampled_at_the_instant_of_departure_counts():
    h = Harness()
    h.feed(site(), enrolled("driver", staff=DRIVER), lab_result(at(), staff=DRIVER), departed(at()))
    h.tick(at(hours=1))
    assert h.raised("VEH-DRIVER-TEST") == []
