"""DIS-IMPORT, DIS-DOMESTIC, DIS-COVERAGE, DIS-BEFORE-DISPATCH, REST-IMPORT."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schemas.alerts import AlertRaised
from streams.compliance.engine import ms_of
from tests import factories
from tests.unit.rules_harness import Harness, at, policy, site


def received(origin: str = "imported", when=None, count: int = 100, outside: bool = True, batch: str = "B1"):
    body = factories.parcels_received(batch=batch, count=count, origin=origin, at=when or at())
    body["payload"]["from_outside_city"] = outside
    return body


def disinfected(when, count: int = 100, batch: str = "B1"):
    return factories.parcels_disinfected(batch=batch, count=count, at=when)


def dispatched(when, batch: str = "B1"):
    return factories.event("parcels.dispatched", {"batch_id": batch, "item_count": 100}, at=when)


def test_imported_batch_not_disinfected_in_1h_raises_alert_once():
    h = Harness()
    h.feed(site(), received())
    h.tick(at(minutes=64))
    assert h.raised("DIS-IMPORT") == []  # the watermark (tick minus 5 min lateness) is still before the deadline
    h.tick(at(minutes=66))
    h.tick(at(minutes=90))
    [alert] = h.raised("DIS-IMPORT")
    assert (alert.subject_id, alert.severity, alert.deadline) == ("B1", "critical", at(hours=1))
    assert (alert.division_code, alert.profile) == ("330106", "normal")


def test_imported_batch_disinfected_in_time_raises_nothing():
    h = Harness()
    h.feed(site(), received(), disinfected(at(minutes=40)))
    h.tick(at(hours=5))
    assert h.raised("DIS-IMPORT") == h.raised("DIS-COVERAGE") == []


def test_disinfection_record_out_of_order_within_lateness_counts():
    h = Harness()
    h.feed(site(), received(), factories.health_checked(at=at(minutes=63)))  # moves max_seen past the deadline
    h.feed(disinfected(at(minutes=59)))  # earlier, arrives later, still within 5 min lateness
    h.tick(at(hours=3))
    assert h.raised("DIS-IMPORT") == []


def test_late_disinfection_resolves_the_alert_marked_late():
    h = Harness()
    h.feed(site(), received())
    h.tick(at(hours=2))
    h.feed(disinfected(at(minutes=50)))  # a back-filled record: done in time, written after the alert
    [resolved] = h.resolved("DIS-IMPORT")
    assert (resolved.late, resolved.late_reason) == (True, "record_after_deadline")
    h2 = Harness()
    h2.feed(site(), received())
    h2.tick(at(hours=2))
    h2.feed(disinfected(at(hours=2, minutes=10)))
    assert h2.resolved("DIS-IMPORT")[0].late_reason == "action_after_deadline"


def test_response_profile_shortens_the_imported_deadline_to_30_minutes():
    h = Harness()
    h.feed(site(), policy("response", at(hours=-1)), received(), disinfected(at(minutes=45)))
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-IMPORT")
    assert (alert.deadline, alert.profile) == (at(minutes=30), "response")


def test_policy_change_after_receipt_does_not_move_the_deadline():
    h = Harness()
    h.feed(site(), received(), policy("response", at(minutes=10)), disinfected(at(minutes=45)))
    h.tick(at(hours=2))
    assert h.raised("DIS-IMPORT") == []


def test_domestic_batch_from_outside_the_city_has_4h_and_local_batch_no_deadline():
    h = Harness()
    h.feed(site(), received("domestic", batch="OUT"), received("domestic", outside=False, batch="LOCAL"))
    h.tick(at(hours=3, minutes=59))
    assert h.raised("DIS-DOMESTIC") == []
    h.tick(at(hours=4, minutes=6))
    assert [a.subject_id for a in h.raised("DIS-DOMESTIC")] == ["OUT"]
    h.feed(disinfected(at(hours=4, minutes=30), batch="OUT"))
    assert h.resolved("DIS-DOMESTIC")[0].late


def test_fewer_items_disinfected_than_received_raises_coverage_until_covered():
    h = Harness()
    h.feed(site(), received(count=100), disinfected(at(minutes=20), count=60))
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-COVERAGE")
    assert alert.details["disinfected_items"] == 60
    assert h.raised("DIS-IMPORT") == []
    h.feed(disinfected(at(hours=2, minutes=5), count=40))
    assert h.resolved("DIS-COVERAGE")[0].late


def test_dispatch_before_any_disinfection_raises_critical_alert():
    h = Harness()
    h.feed(site(), received("domestic", outside=False), dispatched(at(minutes=30)))
    h.tick(at(hours=1))
    [alert] = h.raised("DIS-BEFORE-DISPATCH")
    assert alert.severity == "critical"


def test_dispatch_after_disinfection_raises_nothing_even_if_recorded_out_of_order():
    h = Harness()
    h.feed(site(), received("domestic", outside=False), dispatched(at(minutes=30)), disinfected(at(minutes=20)))
    h.tick(at(hours=1))
    assert h.raised("DIS-BEFORE-DISPATCH") == []


def test_backfilled_disinfection_before_dispatch_resolves_late():
    h = Harness()
    h.feed(site(), received("domestic", outside=False), dispatched(at(minutes=30)))
    h.tick(at(hours=1))
    h.feed(disinfected(at(minutes=20)))
    assert h.resolved("DIS-BEFORE-DISPATCH")[0].late_reason == "record_after_deadline"


def test_imported_batch_dispatched_before_4_day_rest_raises_rest_import():
    h = Harness()
    h.feed(site(), received(), disinfected(at(minutes=10)), dispatched(at(days=2)))
    h.tick(at(days=2, hours=1))
    [alert] = h.raised("REST-IMPORT")
    assert alert.details["rest_hours"] == 96


def test_imported_batch_dispatched_after_rest_raises_nothing():
    h = Harness()
    h.feed(site(), received(), disinfected(at(minutes=10)), dispatched(at(days=4, hours=1)))
    h.tick(at(days=5))
    assert h.raised("REST-IMPORT") == []


def test_settled_batch_state_is_released_after_retention():
    h = Harness()
    h.feed(site(), received(), disinfected(at(minutes=10)), dispatched(at(days=4, hours=1)))
    assert "B1" in h.sites.states["site-a1"]["rules"]["batches"]
    h.tick(at(days=20))
    assert h.sites.states["site-a1"]["rules"]["batches"] == {}


def test_a_day_posted_late_raises_then_settles_but_as_a_backfill_raises_only_what_stands():
    """Two days late, one event at a time: as ordinary posts the deadline passes before the
    disinfection record arrives (raised, then resolved as record_after_deadline); as a back-fill
    the check waits for the rest of the history and only the real shortfall is raised."""
    received_at = at(days=2)
    day = [
        received(batch="OK"),
        disinfected(at(minutes=30), batch="OK"),
        received(batch="SHORT", count=200),
        disinfected(at(minutes=20), batch="SHORT", count=150),
        received(batch="NONE"),
    ]
    for backfill in (False, True):
        h = Harness()
        h.feed(site())
        h.tick(received_at)
        for body in day:
            h.feed({**body, "backfill": backfill}, received=received_at)
        h.tick(received_at + timedelta(minutes=30))
        raised = sorted((a.rule_id, a.subject_id) for a in h.alerts if isinstance(a, AlertRaised))
        resolved = {(a.subject_id, a.late_reason) for a in h.resolved("DIS-IMPORT")}
        # What stands: the shortfall, the batch never disinfected, the late day, and a day of work
        # with no premises disinfection on record (SITE-DISINFECT, subject: the day's number).
        stands = [("DIS-COVERAGE", "SHORT"), ("DIS-IMPORT", "NONE"), ("LEDGER-LATE", "2026-11-23")]
        stands = sorted([*stands, ("SITE-DISINFECT", "20780")])
        if backfill:
            assert raised == stands
            assert resolved == set()
        else:
            assert raised == sorted([*stands, ("DIS-IMPORT", "OK"), ("DIS-IMPORT", "SHORT")])
            assert resolved == {("OK", "record_after_deadline"), ("SHORT", "record_after_deadline")}


def test_a_backfilled_check_waits_a_quarter_of_an_hour_of_the_partition_clock():
    h = Harness()
    h.feed(site())
    h.tick(at(days=2))
    h.feed({**received(batch="NONE"), "backfill": True}, received=at(days=2))
    # Posted when the watermark (the clock less the 5-minute lateness) stood at -5 min: due at +10.
    h.tick(at(days=2, minutes=14))
    assert h.raised("DIS-IMPORT") == []
    h.tick(at(days=2, minutes=16))
    [alert] = h.raised("DIS-IMPORT")
    assert (alert.deadline, alert.at) == (at(hours=1), at(hours=1))  # judged as of its deadline


# Boundaries (the catalogue's text decides each: "at the deadline" is in time).
MS = timedelta(milliseconds=1)


def outcome(h: Harness, rule_id: str) -> list[tuple[str, str | None]]:
    resolved = {r.alert_id: r.late_reason for r in h.resolved(rule_id)}
    return [(a.subject_id, resolved.get(a.alert_id, "open")) for a in h.raised(rule_id)]


def test_an_imported_batch_disinfected_exactly_at_its_deadline_raises_nothing_and_a_millisecond_later_does():
    on_time = Harness()
    on_time.feed(site(), received(), disinfected(at(hours=1)))
    on_time.tick(at(hours=3))
    assert on_time.raised("DIS-IMPORT") == []
    late = Harness()
    late.feed(site(), received(), disinfected(at(hours=1) + MS))
    late.tick(at(hours=3))
    assert outcome(late, "DIS-IMPORT") == [("B1", "action_after_deadline")]


def test_a_batch_dispatched_at_the_instant_it_was_disinfected_is_not_dispatched_before_it():
    same = Harness()
    same.feed(site(), received(), disinfected(at(minutes=30)), dispatched(at(minutes=30)))
    same.tick(at(hours=3))
    assert same.raised("DIS-BEFORE-DISPATCH") == []
    before = Harness()
    before.feed(site(), received(), disinfected(at(minutes=30) + MS), dispatched(at(minutes=30)))
    before.tick(at(hours=3))
    assert [a.subject_id for a in before.raised("DIS-BEFORE-DISPATCH")] == ["B1"]


def test_items_disinfected_exactly_at_the_deadline_count_toward_coverage_and_a_top_up_after_it_is_late():
    h = Harness()
    h.feed(site(), received(count=100), disinfected(at(minutes=20), count=60), disinfected(at(hours=1), count=40))
    h.tick(at(hours=3))
    assert h.raised("DIS-COVERAGE") == []
    topped_up_late = Harness()
    topped_up_late.feed(
        site(), received(count=100), disinfected(at(minutes=20), count=60), disinfected(at(hours=1) + MS, count=40)
    )
    topped_up_late.tick(at(hours=3))
    [alert] = topped_up_late.raised("DIS-COVERAGE")
    assert (alert.details["received_items"], alert.details["disinfected_items"]) == (100, 60)
    assert outcome(topped_up_late, "DIS-COVERAGE") == [("B1", "action_after_deadline")]


def test_a_batch_received_in_two_parts_counts_both_and_its_deadline_runs_from_the_first():
    h = Harness()
    h.feed(site(), received(count=60), received(when=at(minutes=30), count=40), disinfected(at(minutes=50), count=60))
    h.tick(at(hours=3))
    [alert] = h.raised("DIS-COVERAGE")
    assert alert.deadline == at(hours=1)  # the earliest receipt's deadline
    assert (alert.details["received_items"], alert.details["disinfected_items"]) == (100, 60)


def test_an_imported_batch_dispatched_exactly_when_its_rest_period_ends_is_not_early():
    rest = load_rest()
    on_time = Harness()
    on_time.feed(site(), received(), disinfected(at(minutes=30)), dispatched(at() + rest))
    on_time.tick(at() + rest + timedelta(hours=1))
    assert on_time.raised("REST-IMPORT") == []
    early = Harness()
    early.feed(site(), received(), disinfected(at(minutes=30)), dispatched(at() + rest - MS))
    early.tick(at() + rest + timedelta(hours=1))
    [alert] = early.raised("REST-IMPORT")
    assert alert.subject_kind == "batch"
    assert alert.details["rest_hours"] == rest / timedelta(hours=1)


def test_the_deadline_alert_names_the_batch_its_receipt_and_what_was_found():
    h = Harness()
    receipt = received(count=80)
    h.feed(site(), receipt)
    h.tick(at(hours=3))
    [alert] = h.raised("DIS-IMPORT")
    assert (alert.subject_kind, alert.subject_id, alert.evidence) == ("batch", "B1", [receipt["event_id"]])
    assert alert.details["received_items"] == 80
    assert alert.details["disinfected_items"] == 0


def load_rest() -> timedelta:
    from streams.compliance.catalogue import load
    from streams.compliance.rules.disinfection import Rest

    return timedelta(milliseconds=ms_of(load().rule("REST-IMPORT").limits("normal", Rest).rest))


def test_a_batch_with_an_open_alert_is_kept_past_retention_and_settled_by_a_record_weeks_later():
    h = Harness()
    h.feed(site(), received())
    h.tick(at(days=20))  # retention is 8 days of the partition's clock: the open alert keeps the batch
    assert "B1" in h.sites.states["site-a1"]["rules"]["batches"]
    h.feed(disinfected(at(minutes=30)), received=at(days=20))
    assert outcome(h, "DIS-IMPORT") == [("B1", "record_after_deadline")]


def test_a_settled_batch_is_released_after_retention_and_still_judges_a_dispatch_posted_later():
    h = Harness()
    h.feed(site(), received(), disinfected(at(minutes=20)))
    h.tick(at(days=9))
    state = h.sites.states["site-a1"]["rules"]
    assert "B1" not in state["batches"]
    assert state["released"]["B1"][:3] == [int(at().timestamp() * 1000), int(at(minutes=20).timestamp() * 1000), True]
    h.feed(dispatched(at(hours=2)), received=at(days=9))
    h.tick(at(days=9, hours=1))
    assert h.raised("DIS-BEFORE-DISPATCH") == []
    early = Harness()
    early.feed(site(), received(), disinfected(at(minutes=20)))
    early.tick(at(days=9))
    early.feed(dispatched(at(minutes=10)), received=at(days=9))  # before its disinfection
    early.tick(at(days=9, hours=1))
    assert [a.subject_id for a in early.raised("DIS-BEFORE-DISPATCH")] == ["B1"]
    assert [a.subject_id for a in early.raised("REST-IMPORT")] == ["B1"]  # and before its rest period


def batches(h: Harness) -> dict[str, Any]:
    kept: dict[str, Any] = h.sites.states["site-a1"]["rules"]["batches"]
    return kept


def test_coverage_is_settled_when_the_items_reached_the_count_not_before():
    h = Harness()
    h.feed(site(), received(count=10), disinfected(at(minutes=20), count=9))
    h.tick(at(hours=2))
    h.feed(disinfected(at(hours=3), count=1))
    [settled] = h.resolved("DIS-COVERAGE")
    assert (settled.at, settled.late_reason) == (at(hours=3), "action_after_deadline")


def test_records_of_a_batch_never_received_are_kept_to_the_horizon_for_its_receipt():
    h = Harness()
    h.feed(site(), disinfected(at(minutes=20), batch="B9"))
    h.tick(at(days=61))  # eight days of retention have passed, many times: no receipt yet, kept
    assert "B9" in batches(h)
    h.feed(received(when=at(), batch="B9"), received=at(days=61))  # the receipt, two months late
    h.tick(at(days=61, hours=1))
    assert h.raised("DIS-IMPORT") == []  # disinfected 20 minutes after it came: in time
    lost = Harness()
    lost.feed(site(), disinfected(at(minutes=20), batch="B9"))
    lost.tick(at(days=70))  # past the horizon from its last record: released at the next look
    assert "B9" not in batches(lost)


def test_released_batches_are_forgotten_past_the_horizon_once_a_day():
    h = Harness()
    h.feed(site(), received(batch="B1"), disinfected(at(minutes=20), batch="B1"))
    h.tick(at(days=9))
    released = h.sites.states["site-a1"]["rules"]["released"]
    assert list(released) == ["B1"]
    h.feed(received(when=at(days=70), batch="B2"), disinfected(at(days=70, minutes=20), batch="B2"))
    h.tick(at(days=79))  # B2 released on day 78: B1 (released on day 8) is past the horizon
    assert list(released) == ["B2"]


def test_the_earliest_of_two_dispatch_records_is_the_dispatch_judged():
    h = Harness()
    h.feed(site(), received("domestic", outside=False), disinfected(at(hours=2)), dispatched(at(hours=3)))
    h.feed(dispatched(at(hours=1)), received=at(hours=4))  # an earlier dispatch, posted later
    h.tick(at(hours=5))
    [alert] = h.raised("DIS-BEFORE-DISPATCH")
    assert alert.deadline == at(hours=1)


def test_a_dispatch_alert_counts_every_disinfection_record_of_the_batch():
    h = Harness()
    h.feed(site(), received("domestic", outside=False, count=100))
    h.feed(disinfected(at(hours=2), count=40), disinfected(at(hours=3), count=60))
    late = dispatched(at(hours=1))
    h.feed(late, received=at(hours=4))
    h.tick(at(hours=5))
    [alert] = h.raised("DIS-BEFORE-DISPATCH")
    assert alert.details == {"origin": "domestic", "received_items": 100, "disinfected_items": 100}
    assert late["event_id"] in alert.evidence


def test_a_disinfection_at_the_instant_of_the_dispatch_posted_later_settles_the_dispatch_alert():
    h = Harness()
    h.feed(site(), received("domestic", outside=False), dispatched(at(hours=1)))
    h.tick(at(hours=2))
    assert len(h.raised("DIS-BEFORE-DISPATCH")) == 1
    record = disinfected(at(hours=1))
    h.feed(record, received=at(hours=2))
    [settled] = h.resolved("DIS-BEFORE-DISPATCH")
    assert settled.evidence == [record["event_id"]]


def test_a_domestic_batch_has_no_rest_period():
    h = Harness()
    h.feed(site(), received("domestic"), disinfected(at(minutes=30)), dispatched(at(hours=1)))
    h.tick(at(hours=2))
    assert h.raised("REST-IMPORT") == []
    assert h.raised("DIS-BEFORE-DISPATCH") == []


def saved_before_records_were_kept(h: Harness, batch: str = "B1") -> dict[str, Any]:
    """The batch as state saved by the earlier layout holds it: no record list, no raised list, no flag."""
    state: dict[str, Any] = h.sites.states["site-a1"]["rules"]["batches"][batch]
    for key in ("disinfections", "raised", "checked"):
        state.pop(key, None)
    return state


def test_a_batch_saved_in_the_earlier_layout_after_its_check_is_settled_by_a_record_posted_later():
    h = Harness()
    h.feed(site(), received())
    h.tick(at(hours=1, minutes=5))  # the watermark is at the deadline itself: the check has run
    assert len(h.raised("DIS-IMPORT")) == 1
    saved_before_records_were_kept(h)
    record = disinfected(at(minutes=50))
    h.feed(record, received=at(hours=2))
    [settled] = h.resolved("DIS-IMPORT")
    assert (settled.late_reason, settled.evidence) == ("record_after_deadline", [record["event_id"]])


def test_a_batch_saved_in_the_earlier_layout_before_its_check_waits_for_it():
    h = Harness()
    h.feed(site(), received(count=100))
    saved_before_records_were_kept(h)
    h.feed(disinfected(at(minutes=30), count=60))  # short of the receipt, but the deadline is an hour away
    assert h.raised("DIS-COVERAGE") == []
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-COVERAGE")
    assert alert.deadline == at(hours=1)


def test_a_batch_saved_in_the_earlier_layout_counts_every_item_it_had_disinfected():
    h = Harness()
    h.feed(site(), received(count=100), disinfected(at(minutes=40), count=60))
    saved_before_records_were_kept(h)
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-COVERAGE")
    assert alert.details == {"origin": "imported", "received_items": 100, "disinfected_items": 60}
    assert h.resolved("DIS-COVERAGE") == []


def test_a_part_of_a_batch_received_after_its_check_is_judged_on_the_whole_batch():
    h = Harness()
    h.feed(site(), received(count=100), disinfected(at(minutes=40), count=100))
    h.tick(at(hours=2))
    assert h.raised("DIS-COVERAGE") == []
    part = received(when=at(minutes=30), count=50)
    h.feed(part, received=at(hours=2))
    [alert] = h.raised("DIS-COVERAGE")
    assert (alert.subject_id, alert.deadline) == ("B1", at(hours=1))
    assert alert.details == {"origin": "imported", "received_items": 150, "disinfected_items": 100}
    assert part["event_id"] in alert.evidence


def test_an_earlier_part_posted_after_the_check_moves_the_deadline_and_settles_it_as_late():
    h = Harness()
    h.feed(site(), received(when=at(minutes=30)), disinfected(at(minutes=70)))
    h.tick(at(hours=3))
    assert h.raised("DIS-IMPORT") == []  # disinfected 40 minutes after the receipt on record
    part = received(when=at(), count=10)
    h.feed(part, received=at(hours=3))  # a part received half an hour earlier: the hour ran from then
    [alert] = h.raised("DIS-IMPORT")
    [settled] = h.resolved("DIS-IMPORT")
    assert (alert.subject_id, alert.deadline) == ("B1", at(hours=1))
    assert (settled.late_reason, settled.evidence) == ("action_after_deadline", [part["event_id"]])


def test_a_dispatch_past_the_gate_carries_its_reason_to_the_regulator():
    h = Harness()
    gone = dispatched(at(hours=1))
    gone["payload"]["override_reason"] = "客户加急，消毒记录稍后补录"
    h.feed(site(), received("domestic", outside=False), gone)
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-BEFORE-DISPATCH")
    assert alert.details["override_reason"] == "客户加急，消毒记录稍后补录"
    plain = Harness()
    plain.feed(site(), received("domestic", outside=False), dispatched(at(hours=1)))
    plain.tick(at(hours=2))
    assert "override_reason" not in plain.raised("DIS-BEFORE-DISPATCH")[0].details


def test_an_imported_receipt_posted_after_its_dispatch_is_judged_for_the_rest_period():
    h = Harness()
    h.feed(site(), dispatched(at(days=1)), received=at(days=1))  # the dispatch is on record first
    h.feed(received(when=at()), disinfected(at(minutes=20)), received=at(days=1, hours=1))
    h.tick(at(days=2))
    [alert] = h.raised("REST-IMPORT")
    assert (alert.subject_id, alert.subject_kind, alert.details["rest_hours"]) == ("B1", "batch", 96.0)
    assert [name for name in h.sites.states["site-a1"]["open"] if "REST-IMPORT" in name] == []  # not tracked
    domestic = Harness()
    domestic.feed(site(), dispatched(at(days=1)), received=at(days=1))
    domestic.feed(received("domestic", when=at()), disinfected(at(minutes=20)), received=at(days=1, hours=1))
    domestic.tick(at(days=2))
    assert domestic.raised("REST-IMPORT") == []


def test_a_coverage_alert_names_the_receipt_and_every_disinfection_record():
    h = Harness()
    receipt, first = received(count=100), disinfected(at(minutes=20), count=30)
    second = disinfected(at(minutes=30), count=30)
    h.feed(site(), receipt, first, second)
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-COVERAGE")
    assert sorted(alert.evidence) == sorted([receipt["event_id"], first["event_id"], second["event_id"]])


def test_a_deadline_alert_is_raised_once_however_often_later_records_settle_it():
    h = Harness()
    h.feed(site(), received(count=100))
    h.tick(at(hours=2))
    h.feed(disinfected(at(hours=2, minutes=10), count=50), disinfected(at(hours=2, minutes=20), count=50))
    assert len(h.raised("DIS-IMPORT")) == 1
    assert [a.late_reason for a in h.resolved("DIS-IMPORT")] == ["action_after_deadline"]


def test_a_dispatch_alert_is_about_the_batch_at_the_dispatch():
    h = Harness()
    h.feed(site(), received("domestic", outside=False), dispatched(at(hours=1)))
    h.tick(at(hours=2))
    [alert] = h.raised("DIS-BEFORE-DISPATCH")
    assert (alert.subject_kind, alert.subject_id, alert.at, alert.deadline) == ("batch", "B1", at(hours=1), at(hours=1))


def test_a_batch_is_kept_eight_days_after_its_last_record_whichever_kind_it_is():
    h = Harness()
    h.feed(site(), received(), disinfected(at(minutes=10)), dispatched(at(days=5)))
    h.tick(at(days=12, hours=23))
    assert "B1" in batches(h)  # eight days after the dispatch, not after the receipt
    h.tick(at(days=13, hours=1))
    assert "B1" not in batches(h)
    late = Harness()
    late.feed(site(), disinfected(at(minutes=10), count=100), received("domestic", outside=False))
    late.tick(at(days=2))
    late.feed(received("domestic", when=at(), outside=False), received=at(days=2))  # a receipt posted late
    late.tick(at(days=9, hours=23))
    assert "B1" in batches(late)  # eight days after the clock of its posting, not of its time
    late.tick(at(days=10, hours=1))
    assert "B1" not in batches(late)


def test_a_receipt_posted_for_a_batch_released_long_ago_raises_nothing_new():
    h = Harness()
    h.feed(site(), received(count=100), disinfected(at(minutes=20), count=100))
    h.tick(at(days=9))
    assert "B1" not in batches(h)
    h.feed(received(when=at(minutes=5), count=20), received=at(days=9))  # a part, posted nine days late
    h.tick(at(days=9, hours=2))
    assert h.raised("DIS-IMPORT") == h.raised("DIS-COVERAGE") == []
