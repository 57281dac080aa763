"""SITE-DISINFECT, SITE-ENV-SAMPLE, INSPECT-MONTHLY, LEDGER-LATE, VEH-OFF-ROUTE, VEH-OVERDUE, VEH-SEAL, VEH-DWELL."""

from __future__ import annotations

from datetime import timedelta

from tests import factories
from tests.factories import DRIVER
from tests.unit.rules_harness import Harness, at, ev, site


def premises(when):
    return ev("site.disinfected", {"area": "whole_site", "method": "spray", "agent": "过氧乙酸"}, when)


def sampled(when):
    return ev("site.environment_sampled", {"area": "international", "result": "negative"}, when)


def inspected(when):
    return ev("site.inspected", {"inspector_authority": "post-330100", "passed": True}, when)


def test_site_disinfected_once_in_a_day_raises_and_second_late_record_resolves():
    h = Harness()
    h.feed(site(), premises(at()))
    h.tick(at(hours=17))  # 2026-11-24 01:00 local, past the day's end plus lateness
    [alert] = h.raised("SITE-DISINFECT")
    assert alert.details == {"day": "2026-11-23", "disinfections": 1, "required": 2}
    h.feed(premises(at(hours=8)))
    assert h.resolved("SITE-DISINFECT")[0].late_reason == "record_after_deadline"


def test_site_disinfected_twice_raises_nothing():
    h = Harness()
    h.feed(site(), premises(at()), premises(at(hours=6)))
    h.tick(at(hours=17))
    assert h.raised("SITE-DISINFECT") == []


def test_a_days_events_arm_its_check_once_and_it_raises_once():
    h = Harness()
    h.feed(site())
    queued = h.sites.footprint()["timers"]
    h.feed(*(premises(at(minutes=10 * n)) for n in range(30)))  # each event of the day arms its check
    assert h.sites.footprint()["timers"] == queued + 1
    h.feed(premises(at(days=1)))  # the next day's: the watermark passes the first day's check
    assert h.sites.footprint()["timers"] == queued + 1
    h.tick(at(days=2, hours=17))
    assert [alert.details["day"] for alert in h.raised("SITE-DISINFECT")] == ["2026-11-24"]


def test_international_site_not_sampled_for_7_days_raises_and_sample_resolves():
    h = Harness()
    h.feed(site(international=True, since=at(days=-9)), sampled(at(days=-8)))
    h.tick(at())
    [alert] = h.raised("SITE-ENV-SAMPLE")
    assert alert.deadline == at(days=-1)
    h.feed(sampled(at(minutes=10)))
    assert h.resolved("SITE-ENV-SAMPLE")[0].late


def test_domestic_site_needs_no_environment_sample():
    h = Harness()
    h.feed(site(international=False))
    h.tick(at(days=20))
    assert h.raised("SITE-ENV-SAMPLE") == []


def test_international_site_not_inspected_in_a_month_raises_inspect_monthly():
    h = Harness()
    h.feed(site(international=True), sampled(at()))  # registered in October; the watermark is now in November
    h.feed(inspected(at(days=-25)))  # October's inspection, recorded after October was settled
    h.tick(at(days=9))  # into December
    assert [a.details["month"] for a in h.raised("INSPECT-MONTHLY")] == ["2026-10", "2026-11"]
    assert [(r.subject_id, r.late) for r in h.resolved("INSPECT-MONTHLY")] == [("2026-10", True)]


def test_inspected_site_raises_nothing_for_that_month():
    h = Harness()
    h.feed(site(international=True, since=at(days=-1)), inspected(at()), sampled(at(days=6)))
    h.tick(at(days=9))
    assert h.raised("INSPECT-MONTHLY") == []


def test_record_received_over_24h_after_the_fact_raises_ledger_late():
    h = Harness()
    h.feed(site())
    h.feed(factories.health_checked(at=at()), received=at(hours=30))
    h.feed(factories.health_checked(at=at()), received=at(hours=2))
    [alert] = h.raised("LEDGER-LATE")
    assert alert.details["delay_hours"] == 30.0
    assert (alert.subject_kind, alert.subject_id) == ("site", "2026-11-23")


def test_a_back_filled_month_raises_one_ledger_late_per_site_and_day():
    h = Harness()
    h.feed(site(), site(site_id="site-b1"))
    for day in range(30):
        for minute in range(0, 600, 60):  # ten records a day, each site, all posted on day 40
            for site_id in ("site-a1", "site-b1"):
                h.feed(factories.health_checked(at=at(days=day, minutes=minute), site=site_id), received=at(days=40))
    alerts = h.raised("LEDGER-LATE")
    assert len(alerts) == 60
    assert {(a.site_id, a.subject_id) for a in alerts} == {
        (site_id, f"2026-{11 + (23 + day > 30)}-{(23 + day - 1) % 30 + 1:02d}")
        for day in range(30)
        for site_id in ("site-a1", "site-b1")
    }
    # The same records judged again (a replay) raise the same alerts, by id.
    again = Harness()
    again.feed(site(), site(site_id="site-b1"))
    for day in range(30):
        again.feed(factories.health_checked(at=at(days=day, minutes=540), site="site-a1"), received=at(days=41))
    assert {a.alert_id for a in again.raised("LEDGER-LATE")} == {a.alert_id for a in alerts if a.site_id == "site-a1"}


def loop_sites(h: Harness) -> None:
    h.feed(site(site_id="A"), site(site_id="B", division="330109"), site(site_id="C"))
    payload = {
        "route_id": "R-1",
        "vehicle_id": "V-1",
        "stops": ["A", "B"],
        "window_start": at().isoformat(),
        "window_end": at(hours=3).isoformat(),
    }
    h.feed(ev("route.planned", payload, at(hours=-1), site_id="A"))
    depart = {"vehicle_id": "V-1", "route_id": "R-1", "seal_id": "S-1", "driver_id": DRIVER}
    h.feed(ev("vehicle.departed", depart, at(), site_id="A"))


def arrive(site_id: str, when, intact: bool = True, seal: str = "S-1"):
    return ev(
        "vehicle.arrived",
        {"vehicle_id": "V-1", "route_id": "R-1", "seal_id": seal, "seal_intact": intact},
        when,
        site_id,
    )


def test_arrival_at_a_site_off_the_loop_raises_off_route():
    h = Harness()
    loop_sites(h)
    h.feed(arrive("C", at(hours=1)))
    h.tick(at(hours=2))
    [alert] = h.raised("VEH-OFF-ROUTE")
    assert alert.details["site_id"] == "C"


def test_unplanned_stop_raises_off_route_and_planned_loop_raises_nothing():
    h = Harness()
    loop_sites(h)
    h.feed(
        arrive("B", at(hours=2)),
        ev(
            "vehicle.departed",
            {"vehicle_id": "V-1", "route_id": "R-BACK", "seal_id": "S-2", "driver_id": DRIVER},
            at(hours=2, minutes=30),
            "B",
        ),
    )
    h.tick(at(hours=6))
    assert h.raised("VEH-OFF-ROUTE") == h.raised("VEH-OVERDUE") == h.raised("VEH-SEAL") == h.raised("VEH-DWELL") == []
    stop = {"vehicle_id": "V-1", "route_id": "R-1", "latitude": 30.1, "longitude": 120.3}
    h.feed(ev("vehicle.stopped", stop, at(hours=7), "A"))
    h.tick(at(hours=8))
    assert len(h.raised("VEH-OFF-ROUTE")) == 1


def test_vehicle_not_at_last_stop_by_window_plus_30m_is_overdue_and_arrival_resolves_late():
    h = Harness()
    loop_sites(h)
    h.tick(at(hours=3, minutes=34))
    assert h.raised("VEH-OVERDUE") == []
    h.tick(at(hours=3, minutes=36))
    [alert] = h.raised("VEH-OVERDUE")
    assert alert.deadline == at(hours=3, minutes=30)
    h.feed(arrive("B", at(hours=4)))
    assert h.resolved("VEH-OVERDUE")[0].late_reason == "action_after_deadline"


def test_arrival_recorded_out_of_order_within_lateness_prevents_overdue():
    h = Harness()
    loop_sites(h)
    h.feed(
        ev("vehicle.disinfected", {"vehicle_id": "V-1", "method": "spray", "agent": "84"}, at(hours=3, minutes=33), "B")
    )
    h.feed(arrive("B", at(hours=3, minutes=29)))
    h.tick(at(hours=5))
    assert h.raised("VEH-OVERDUE") == []


def test_broken_or_swapped_seal_raises_veh_seal():
    h = Harness()
    loop_sites(h)
    h.feed(arrive("B", at(hours=2), intact=False))
    h.tick(at(hours=2, minutes=10))
    assert h.raised("VEH-SEAL")[0].details["seal_intact"] is False
    h2 = Harness()
    loop_sites(h2)
    h2.feed(arrive("B", at(hours=2), seal="S-OTHER"))
    h2.tick(at(hours=2, minutes=10))
    assert h2.raised("VEH-SEAL")[0].details["seal_swapped"] is True


def test_vehicle_staying_past_2h_raises_dwell_and_departure_resolves_late():
    h = Harness()
    loop_sites(h)
    h.feed(arrive("B", at(hours=1)))
    h.tick(at(hours=3, minutes=6))
    [alert] = h.raised("VEH-DWELL")
    assert alert.details["site_id"] == "B"
    leave = {"vehicle_id": "V-1", "route_id": "R-1", "seal_id": "S-3", "driver_id": DRIVER}
    h.feed(ev("vehicle.departed", leave, at(hours=3, minutes=10), "B"))
    assert h.resolved("VEH-DWELL")[0].late


def plan_loop(h: Harness, stops: list[str]) -> None:
    h.feed(site(site_id="A"), site(site_id="B", division="330109"), site(site_id="C"))
    payload = {
        "route_id": "R-1",
        "vehicle_id": "V-1",
        "stops": stops,
        "window_start": at().isoformat(),
        "window_end": at(hours=3).isoformat(),
    }
    h.feed(ev("route.planned", payload, at(hours=-1), site_id="A"))


def depart(site_id: str, when, seal: str = "S-1", route: str = "R-1"):
    payload = {"vehicle_id": "V-1", "route_id": route, "seal_id": seal, "driver_id": DRIVER}
    return ev("vehicle.departed", payload, when, site_id)


def outcome(h: Harness, rule_id: str) -> dict[str, str]:
    """Per subject, how its alert stands: open, or the reason of its last resolution."""
    resolved = {r.alert_id: r.late_reason or "in time" for r in h.resolved(rule_id)}
    return {a.subject_id: resolved.get(a.alert_id, "open") for a in h.raised(rule_id)}


def test_a_loop_posted_last_stop_first_is_judged_as_in_event_time():
    """The last stop posts on time, the first site a day late: the loop was on time all along."""
    h = Harness()
    plan_loop(h, ["A", "B"])
    h.feed(arrive("B", at(hours=2)), depart("B", at(hours=2, minutes=30), route="R-BACK"))
    h.tick(at(hours=5))
    h.feed(depart("A", at()), received=at(days=1))
    h.tick(at(days=1, hours=1))
    assert outcome(h, "VEH-OVERDUE") == outcome(h, "VEH-DWELL") == outcome(h, "VEH-SEAL") == {}


def test_a_late_loop_raises_overdue_once_for_its_first_departure():
    """Leaving the middle stop after the deadline is the same late loop, not a second one."""
    h = Harness()
    plan_loop(h, ["A", "B", "C"])
    h.feed(depart("A", at()), arrive("B", at(hours=1)), depart("B", at(hours=3, minutes=40)))
    h.feed(arrive("C", at(hours=5)))
    h.tick(at(hours=6))
    assert outcome(h, "VEH-OVERDUE") == {f"R-1|{int(at().timestamp() * 1000)}": "action_after_deadline"}
    [alert] = h.raised("VEH-OVERDUE")
    assert alert.deadline == at(hours=3, minutes=30)
    assert alert.details == {"route_id": "R-1", "from_site": "A", "seal_id": "S-1"}


def test_a_record_showing_the_loop_ended_in_time_resolves_it_again_as_in_time():
    h = Harness()
    plan_loop(h, ["A", "B"])
    h.feed(depart("A", at()), arrive("B", at(hours=4)))
    h.tick(at(hours=5))
    assert list(outcome(h, "VEH-OVERDUE").values()) == ["action_after_deadline"]
    h.feed(arrive("B", at(hours=3)), received=at(hours=6))  # the earlier arrival, posted later
    assert list(outcome(h, "VEH-OVERDUE").values()) == ["record_after_deadline"]


def test_a_seal_judged_against_the_departure_before_it_in_event_time():
    """An arrival compared with an older departure's seal, until its own departure is posted."""
    h = Harness()
    plan_loop(h, ["A", "B"])
    h.feed(depart("A", at(hours=-20), seal="S-OLD"), arrive("B", at(hours=2), seal="S-NEW"))
    h.tick(at(hours=3))
    assert list(outcome(h, "VEH-SEAL").values()) == ["open"]
    h.feed(depart("A", at(), seal="S-NEW"), received=at(hours=4))
    assert list(outcome(h, "VEH-SEAL").values()) == ["record_after_deadline"]


def sample_outcomes(order: list[float]) -> dict[str, str]:
    h = Harness()
    h.feed(site(international=True, since=at(days=-30)))
    for days in order:
        h.feed(sampled(at(days=days)), received=at(days=max(order) + 1))
    h.tick(at(days=1))
    raised = {a.alert_id: a.deadline for a in h.raised("SITE-ENV-SAMPLE")}
    resolved = {r.alert_id: r.late_reason or "in time" for r in h.resolved("SITE-ENV-SAMPLE")}
    outcomes = {str(raised[alert_id] - at()): resolved.get(alert_id, "open") for alert_id in raised}
    return {due: outcome for due, outcome in outcomes.items() if outcome != "record_after_deadline"}


def test_a_late_sample_settles_the_interval_it_falls_in_whatever_the_order():
    """Samples 29, 21 and 10 days ago, interval 7 days: two intervals were overrun (due 22 and 14
    days ago), each put right late by the next sample; the latest is due 3 days ago and open."""
    expected = {
        "-22 days, 0:00:00": "action_after_deadline",
        "-14 days, 0:00:00": "action_after_deadline",
        "-3 days, 0:00:00": "open",
    }
    assert sample_outcomes([-29, -21, -10]) == expected
    assert sample_outcomes([-10, -29, -21]) == expected
    assert sample_outcomes([-21, -10, -29]) == expected


def test_a_record_exactly_24_hours_late_is_not_late_and_a_millisecond_more_is():
    h = Harness()
    h.feed(site())
    on_time = factories.health_checked(at=at())
    h.feed(on_time, received=at(hours=24))
    assert h.raised("LEDGER-LATE") == []
    late = factories.health_checked(at=at())
    h.feed(late, received=at(hours=24) + timedelta(milliseconds=1))
    [alert] = h.raised("LEDGER-LATE")
    assert alert.evidence == [late["event_id"]]
    assert alert.at == at(hours=24) + timedelta(milliseconds=1)  # raised when it was received
    assert alert.deadline == at(hours=16) + timedelta(hours=24)  # the day's end (00:00) plus the allowed delay
    assert alert.details == {
        "day": "2026-11-23",
        "first_event_type": "StaffHealthChecked",
        "delay_hours": 24.0,
        "max_delay_hours": 24.0,
    }


def test_records_without_a_receipt_time_and_later_records_of_a_raised_day_raise_nothing_more():
    h = Harness()
    h.feed(site(), factories.health_checked(at=at()))  # no received_at: not judged late
    assert h.raised("LEDGER-LATE") == []
    h.feed(factories.health_checked(at=at()), received=at(days=3))
    h.feed(factories.health_checked(at=at(hours=5)), received=at(days=4))  # the same day: no second alert
    h.feed(factories.health_checked(at=at(days=1)), received=at(days=4))  # the next day: its own
    assert [a.subject_id for a in h.raised("LEDGER-LATE")] == ["2026-11-23", "2026-11-24"]


def test_a_vehicle_parked_at_its_home_base_has_no_dwell_limit_elsewhere_it_has():
    home = Harness()
    plan_loop(home, ["A", "B", "A"])
    home.feed(depart("A", at()), arrive("B", at(hours=1)), depart("B", at(hours=1, minutes=20)))
    home.feed(arrive("A", at(hours=2)))  # back home, parked overnight
    home.tick(at(hours=12))
    assert home.raised("VEH-DWELL") == []
    away = Harness()
    plan_loop(away, ["A", "B", "A"])
    away.feed(depart("A", at()), arrive("B", at(hours=1)))  # stays at B
    away.tick(at(hours=12))
    [alert] = away.raised("VEH-DWELL")
    assert (alert.subject_id, alert.details, alert.deadline) == (
        f"B|{int(at(hours=1).timestamp() * 1000)}",
        {"site_id": "B"},
        at(hours=3),
    )


def test_leaving_exactly_at_the_dwell_limit_is_in_time_and_a_millisecond_later_is_late():
    MS = timedelta(milliseconds=1)
    on_time = Harness()
    plan_loop(on_time, ["A", "B", "A"])
    on_time.feed(depart("A", at()), arrive("B", at(hours=1)), depart("B", at(hours=3)))
    on_time.tick(at(hours=12))
    assert on_time.raised("VEH-DWELL") == []
    late = Harness()
    plan_loop(late, ["A", "B", "A"])
    leave = depart("B", at(hours=3) + MS)
    late.feed(depart("A", at()), arrive("B", at(hours=1)), leave)
    late.tick(at(hours=12))
    assert outcome(late, "VEH-DWELL") == {f"B|{int(at(hours=1).timestamp() * 1000)}": "action_after_deadline"}
    assert [r.evidence for r in late.resolved("VEH-DWELL")] == [[leave["event_id"]]]


def test_a_departure_posted_after_the_dwell_check_settles_it_as_a_late_record():
    h = Harness()
    plan_loop(h, ["A", "B", "A"])
    h.feed(depart("A", at()), arrive("B", at(hours=1)))
    h.tick(at(hours=4))
    assert list(outcome(h, "VEH-DWELL").values()) == ["open"]
    leave = depart("B", at(hours=2))
    h.feed(leave, received=at(hours=5))
    assert list(outcome(h, "VEH-DWELL").values()) == ["record_after_deadline"]
    assert [r.evidence for r in h.resolved("VEH-DWELL")] == [[leave["event_id"]]]


def test_a_revised_plan_posted_late_moves_the_deadline_and_settles_the_alert_raised_on_the_old_one():
    h = Harness()
    plan_loop(h, ["A", "B"])  # window to 11:00, due 11:30
    h.feed(depart("A", at()))
    h.tick(at(hours=4))
    [raised] = h.raised("VEH-OVERDUE")
    assert (raised.subject_kind, raised.deadline) == ("vehicle", at(hours=3, minutes=30))
    revised = {
        "route_id": "R-1",
        "vehicle_id": "V-1",
        "stops": ["A", "B"],
        "window_start": at().isoformat(),
        "window_end": at(hours=6).isoformat(),
    }
    h.feed(ev("route.planned", revised, at(minutes=-30), site_id="A"), received=at(hours=4))  # made before it left
    h.feed(arrive("B", at(hours=5)), received=at(hours=5))
    h.tick(at(hours=8))
    assert [r.late_reason for r in h.resolved("VEH-OVERDUE")] == ["record_after_deadline"]
    assert [a.deadline for a in h.raised("VEH-OVERDUE")] == [at(hours=3, minutes=30)]  # none on the new plan
