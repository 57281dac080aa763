"""SITE-DISINFECT, SITE-ENV-SAMPLE, INSPECT-MONTHLY, LEDGER-LATE, VEH-OFF-ROUTE, VEH-OVERDUE, VEH-SEAL, VEH-DWELL."""

from __future__ import annotations

from datetime import timedelta

from streams.compliance.engine import ms
from tests import factories
from tests.factories import DRIVER
from tests.unit.rules_harness import Harness, at, catalogue_with, ev, policy, site


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


MS = timedelta(milliseconds=1)


def test_an_overdue_alert_names_the_route_site_and_seal_and_the_late_arrival_settles_it():
    h = Harness()
    plan_loop(h, ["A", "B"])
    leave, came = depart("A", at()), arrive("B", at(hours=4))
    h.feed(leave)
    h.tick(at(hours=3, minutes=40))
    h.feed(came)
    [alert] = h.raised("VEH-OVERDUE")
    assert (alert.subject_kind, alert.site_id, alert.evidence) == ("vehicle", "A", [leave["event_id"]])
    assert alert.details == {"route_id": "R-1", "from_site": "A", "seal_id": "S-1"}
    [settled] = h.resolved("VEH-OVERDUE")
    assert (settled.evidence, settled.late_reason) == ([came["event_id"]], "action_after_deadline")


def test_an_arrival_exactly_at_the_overdue_deadline_is_in_time_and_a_millisecond_later_is_not():
    on_time = Harness()
    plan_loop(on_time, ["A", "B"])
    on_time.feed(depart("A", at()), arrive("B", at(hours=3, minutes=30)))
    on_time.tick(at(hours=5))
    assert on_time.raised("VEH-OVERDUE") == []
    late = Harness()
    plan_loop(late, ["A", "B"])
    late.feed(depart("A", at()), arrive("B", at(hours=3, minutes=30) + MS))
    late.tick(at(hours=5))
    assert list(outcome(late, "VEH-OVERDUE").values()) == ["action_after_deadline"]


def test_an_arrival_in_time_posted_after_the_overdue_alert_settles_it_naming_the_arrival():
    h = Harness()
    plan_loop(h, ["A", "B"])
    h.feed(depart("A", at()))
    h.tick(at(hours=4))
    came = arrive("B", at(hours=3))
    h.feed(came, received=at(hours=4))
    [settled] = h.resolved("VEH-OVERDUE")
    assert (settled.evidence, settled.late_reason) == ([came["event_id"]], "record_after_deadline")


def test_a_plan_made_at_the_instant_of_the_departure_is_the_plan_it_follows():
    h = Harness()
    h.feed(site(site_id="A"), site(site_id="B"))
    payload = {"route_id": "R-1", "vehicle_id": "V-1", "stops": ["A", "B"]}
    payload |= {"window_start": at().isoformat(), "window_end": at(hours=3).isoformat()}
    h.feed(ev("route.planned", payload, at(), site_id="A"), depart("A", at()))
    h.tick(at(hours=4))
    assert len(h.raised("VEH-OVERDUE")) == 1


def test_a_vehicle_alert_carries_the_placement_of_the_site_it_happened_at():
    h = Harness()
    loop_sites(h)  # B is in district 330109, A in 330106
    h.feed(arrive("B", at(hours=1), intact=False))
    h.feed(depart("A", at(hours=1, minutes=3), route="R-2"))  # folded after it (not yet due), elsewhere
    h.tick(at(hours=2))
    [alert] = h.raised("VEH-SEAL")
    assert (alert.site_id, alert.division_code, alert.evidence[0]) == ("B", "330109", alert.evidence[0])
    assert alert.details == {"site_id": "B", "seal_intact": False, "seal_swapped": False}


def test_an_unplanned_stop_names_where_it_was_and_its_record():
    h = Harness()
    loop_sites(h)
    stop = ev(
        "vehicle.stopped",
        {"vehicle_id": "V-1", "route_id": "R-1", "latitude": 30.1, "longitude": 120.3},
        at(hours=1),
        "B",
    )
    h.feed(stop)
    h.tick(at(hours=2))
    [alert] = h.raised("VEH-OFF-ROUTE")
    assert (alert.subject_kind, alert.subject_id, alert.deadline) == (
        "vehicle",
        f"stop|{ms(at(hours=1))}",
        at(hours=1),
    )
    assert (alert.site_id, alert.division_code, alert.evidence) == ("B", "330109", [stop["event_id"]])
    assert alert.details == {"route_id": "R-1", "latitude": 30.1, "longitude": 120.3}
    h.feed(depart("B", at(hours=3)))
    h.tick(at(hours=4))
    assert h.resolved("VEH-OFF-ROUTE") == []  # an unplanned stop stays on record: nothing settles it
    assert [name for name in h.vehicles.states["V-1"]["open"] if "stop|" in name] == []  # so not tracked as open


def test_a_vehicle_gone_from_a_site_with_no_departure_there_on_record_stays_dwelling():
    h = Harness()
    plan_loop(h, ["A", "B", "C"])
    came = arrive("B", at(hours=1))
    h.feed(depart("A", at()), came, depart("C", at(hours=4)))  # next seen leaving C: B's departure is missing
    h.tick(at(hours=6))
    [alert] = h.raised("VEH-DWELL")
    assert (alert.evidence, alert.details, alert.deadline) == ([came["event_id"]], {"site_id": "B"}, at(hours=3))
    assert h.resolved("VEH-DWELL") == []


def test_a_dwell_settled_late_names_the_arrival_and_the_site():
    h = Harness()
    plan_loop(h, ["A", "B", "A"])
    came = arrive("B", at(hours=1))
    h.feed(depart("A", at()), came, depart("B", at(hours=4)))
    h.tick(at(hours=6))
    [alert] = h.raised("VEH-DWELL")
    assert (alert.evidence, alert.details) == ([came["event_id"]], {"site_id": "B"})


def test_a_turnaround_in_the_same_millisecond_keeps_both_movements_and_a_repeat_is_kept_once():
    turnaround = Harness()
    plan_loop(turnaround, ["A", "B", "A"])
    turnaround.feed(depart("A", at()), arrive("B", at(hours=1)), depart("B", at(hours=1)))
    turnaround.tick(at(hours=6))
    assert turnaround.raised("VEH-DWELL") == []
    repeated = Harness()
    plan_loop(repeated, ["A", "B", "A"])
    came = arrive("B", at(hours=1))
    repeated.feed(depart("A", at()), came, came)  # the same record read again after a crash
    repeated.tick(at(hours=6))
    assert len(repeated.raised("VEH-DWELL")) == 1
    assert len(repeated.vehicles.states["V-1"]["rules"]["moves"]["rows"]) == 2


def test_a_response_level_posted_late_shortens_the_dwell_limit_of_movements_after_it():
    h = Harness()
    plan_loop(h, ["A", "B", "A"])
    h.feed(depart("A", at()), arrive("B", at(hours=1)), depart("B", at(hours=2, minutes=30)))
    h.tick(at(hours=1, minutes=30))
    h.feed(policy("response", at(minutes=30), division="330109"), received=at(hours=1, minutes=30))
    h.tick(at(hours=6))
    [alert] = h.raised("VEH-DWELL")  # an hour under the response profile: left 30 minutes late
    assert (alert.deadline, alert.profile) == (at(hours=2), "response")


def test_movements_past_the_horizon_are_released_but_the_latest_is_kept():
    h = Harness()
    plan_loop(h, ["A", "B", "A"])
    for day in range(4):
        h.feed(depart("A", at(days=day)), arrive("B", at(days=day, hours=1)), depart("B", at(days=day, hours=2)))
    rows = lambda: [row[0] for row in h.vehicles.states["V-1"]["rules"]["moves"]["rows"]]  # noqa: E731
    assert len(rows()) == 12
    h.feed(arrive("A", at(days=64, hours=12)))  # horizon: day 2.5
    assert rows() == [ms(at(days=day, hours=hour)) for day in (3,) for hour in (0, 1, 2)] + [ms(at(days=64, hours=12))]
    h.feed(arrive("A", at(days=200)))  # all before the horizon but this one
    assert rows() == [ms(at(days=200))]


def test_a_premises_alert_is_settled_by_the_record_that_makes_up_the_count():
    h = Harness()
    h.feed(site(), premises(at()))
    h.tick(at(hours=17))
    second = premises(at(hours=8))
    h.feed(second)
    [settled] = h.resolved("SITE-DISINFECT")
    assert (settled.subject_id, settled.evidence) == (str(local_day_of(at())), [second["event_id"]])


def local_day_of(when) -> int:
    from streams.compliance.engine import local_day

    return local_day(ms(when))


def test_a_city_requiring_two_inspections_a_month_counts_them():
    h = Harness(catalogue_with("INSPECT-MONTHLY", per_month=2))
    h.feed(site(international=True, since=at(days=-1)), inspected(at()), sampled(at(days=6)))
    h.tick(at(days=9))  # into December: November had one of two
    [alert] = h.raised("INSPECT-MONTHLY")
    assert (alert.subject_kind, alert.subject_id, alert.evidence) == ("site", "2026-11", [])
    assert alert.details == {"month": "2026-11", "inspections": 1, "required": 2}
    second = inspected(at(days=1))
    h.feed(second, received=at(days=9))
    [settled] = h.resolved("INSPECT-MONTHLY")
    assert (settled.evidence, settled.late_reason) == ([second["event_id"]], "record_after_deadline")


def test_inspection_counts_are_kept_for_the_last_three_months():
    h = Harness()
    h.feed(site(international=True, since=at(days=-1)))
    for month in range(5):
        h.feed(inspected(at(days=30 * month + 10)), sampled(at(days=30 * month + 10)))
    h.tick(at(days=160))
    months = h.sites.states["site-a1"]["rules"]["INSPECT-MONTHLY"]["months"]
    assert sorted(months) == ["2027-02", "2027-03", "2027-04"]  # of 2026-12 to 2027-04


def test_days_of_premises_records_are_kept_to_the_horizon():
    h = Harness()
    h.feed(site(), premises(at()), premises(at(days=62)))
    days = h.sites.states["site-a1"]["rules"]["SITE-DISINFECT"]["days"]
    assert sorted(days) == [str(local_day_of(at())), str(local_day_of(at(days=62)))]  # 62 days: still judged
    h.feed(premises(at(days=63)))
    assert sorted(days) == [str(local_day_of(at(days=62))), str(local_day_of(at(days=63)))]


def test_samples_are_kept_to_the_horizon_and_the_latest_always():
    h = Harness()
    h.feed(site(international=True, since=at(days=-1)), sampled(at()))
    samples = lambda: [s[0] for s in h.sites.states["site-a1"]["rules"]["SITE-ENV-SAMPLE"]["samples"]]  # noqa: E731
    lateness = timedelta(minutes=5)  # the catalogue's allowed lateness
    h.feed(sampled(at(days=62) + lateness))  # the horizon (62 days before the clock) is the first sample
    assert samples() == [ms(at()), ms(at(days=62) + lateness)]
    h.feed(sampled(at(days=62) + lateness + MS))  # and now just past it: it goes
    assert samples() == [ms(at(days=62) + lateness), ms(at(days=62) + lateness + MS)]
    h.feed(sampled(at(days=300)))
    assert samples() == [ms(at(days=300))]
    h.feed(sampled(at(days=10)))  # far past the horizon, posted now: the latest stays
    assert samples() == [ms(at(days=300))]


def test_a_sample_read_again_is_kept_once():
    h = Harness()
    again = sampled(at())
    h.feed(site(international=True, since=at(days=-1)), again, again)
    assert len(h.sites.states["site-a1"]["rules"]["SITE-ENV-SAMPLE"]["samples"]) == 1


def test_a_level_posted_late_brings_a_sample_due_sooner():
    h = Harness()
    h.feed(site(international=True, since=at(days=-1)), sampled(at()))
    h.tick(at(days=3))
    h.feed(policy("response", at(days=1), division="330106"), received=at(days=3))
    h.tick(at(days=4))
    [alert] = h.raised("SITE-ENV-SAMPLE")  # the response level (from day 1) allows two days from the sample
    assert (alert.deadline, alert.details) == (at(days=2), {"last_sample": "2026-11-23T00:00:00+00:00"})


def test_an_arrival_naming_its_route_is_judged_on_that_routes_plan():
    h = Harness()
    plan_loop(h, ["A", "B"])
    other = {"route_id": "R-2", "vehicle_id": "V-1", "stops": ["A", "C"]}
    other |= {"window_start": at().isoformat(), "window_end": at(hours=3).isoformat()}
    h.feed(ev("route.planned", other, at(hours=-1), site_id="A"), depart("A", at()))
    came = ev(
        "vehicle.arrived",
        {"vehicle_id": "V-1", "route_id": "R-2", "seal_id": "S-1", "seal_intact": True},
        at(hours=1),
        "C",
    )
    h.feed(came)
    h.tick(at(hours=2))
    assert h.raised("VEH-OFF-ROUTE") == []  # C is on R-2, the route the arrival names (not R-1's)


def test_late_ledger_days_are_kept_to_the_horizon_once_more_than_64_are_held():
    h = Harness()
    h.feed(site())
    for day in range(70):  # a day's record posted two days late, every day for 70 days
        h.feed(factories.health_checked(at=at(days=day)), received=at(days=day + 2))
    raised = h.sites.states["site-a1"]["rules"]["ledger_late"]
    assert len(h.raised("LEDGER-LATE")) == 70
    # kept: the days raised within the horizon (62 days) and a day, of the clock at day 69
    assert sorted(raised) == sorted(str(local_day_of(at(days=day))) for day in range(4, 70))


def test_a_ledger_late_alert_names_its_first_record_the_delays_and_when_the_day_was_due():
    h = Harness()
    h.feed(site())
    record = factories.health_checked(at=at(hours=3))
    h.feed(record, received=at(hours=30, minutes=30))  # 27.5 hours late
    [alert] = h.raised("LEDGER-LATE")
    assert (alert.evidence, alert.at) == ([record["event_id"]], at(hours=30, minutes=30))
    assert alert.deadline == at(days=1, hours=16)  # the day ends at 16:00 UTC, plus the 24 h allowed
    assert alert.details == {
        "day": "2026-11-23",
        "first_event_type": "StaffHealthChecked",
        "delay_hours": 27.5,
        "max_delay_hours": 24.0,
    }
    assert [name for name in h.sites.states["site-a1"]["open"] if "LEDGER-LATE" in name] == []  # not tracked


def test_ledger_late_delays_are_in_hours_to_one_decimal():
    h = Harness(catalogue_with("LEDGER-LATE", max_delay="3m"))
    h.feed(site())
    h.feed(factories.health_checked(at=at()), received=at(hours=27.05))
    [alert] = h.raised("LEDGER-LATE")
    assert (alert.details["delay_hours"], alert.details["max_delay_hours"]) == (27.1, 0.1)
    assert isinstance(alert.details["max_delay_hours"], float)
