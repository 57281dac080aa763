"""`settle`: a check's verdict on the facts as they stand, brought into the alerts (DESIGN.md §8b).

Driven directly, on a site engine's real state, with the verdicts a rule would compute as records
arrive in some order: raised once, resolved in time or late, resolved again when later records
change the answer, and forgotten past the horizon.
"""

from __future__ import annotations

from schemas.alerts import AlertRaised, AlertResolved, AnyAlert
from streams.compliance.engine import TRACKED_ALERT_MS, Context, ms
from streams.compliance.rules.verdicts import JUDGED, Verdict, forget_judged, settle
from tests.unit.rules_harness import Harness, at, site

RULE, SUBJECT = "SITE-ENV-SAMPLE", "international|0"
DUE = ms(at(days=7))


class Judge:
    def __init__(self) -> None:
        self.h = Harness()
        self.h.feed(site(international=True))
        self.alerts: list[AnyAlert] = []

    def settle(self, verdict: Verdict, now: int = DUE + 3_600_000) -> list[AnyAlert]:
        engine = self.h.sites
        before = len(self.alerts)
        settle(
            Context(engine, "site-a1", engine.states["site-a1"], self.alerts, None, now), RULE, "site", SUBJECT, verdict
        )
        return self.alerts[before:]

    def judged(self) -> dict[str, object]:
        kept: dict[str, object] = self.h.sites.states["site-a1"]["rules"].get(JUDGED, {})
        return kept


def test_a_violation_is_raised_once_with_its_evidence_and_deadline():
    judge = Judge()
    [raised] = judge.settle(Verdict(DUE, True, ["e-0"], {"last_sample": "x"}))
    assert isinstance(raised, AlertRaised)
    assert (raised.subject_id, raised.deadline, raised.evidence, raised.details) == (
        SUBJECT, at(days=7), ["e-0"], {"last_sample": "x"}
    )  # fmt: skip
    assert judge.settle(Verdict(DUE, True, ["e-0"])) == []


def test_a_verdict_that_turns_late_after_an_in_time_resolution_resolves_the_alert_again_as_late():
    judge = Judge()
    [raised] = judge.settle(Verdict(DUE, True, ["e-0"]))
    [in_time] = judge.settle(Verdict(DUE, False, settled_by=["e-1"]))
    assert isinstance(in_time, AlertResolved)
    assert (in_time.alert_id, in_time.late_reason, in_time.evidence) == (
        raised.alert_id,
        "record_after_deadline",
        ["e-1"],
    )
    [late] = judge.settle(Verdict(DUE, True, ["e-0"], settled_at=DUE + 60_000, settled_by=["e-2"]))
    assert isinstance(late, AlertResolved)
    assert (late.alert_id, late.subject_id, late.late_reason, late.evidence) == (
        raised.alert_id, SUBJECT, "action_after_deadline", ["e-2"]
    )  # fmt: skip
    [again] = judge.settle(Verdict(DUE, False, settled_by=["e-3"]))  # and in time once more
    assert isinstance(again, AlertResolved)
    assert (again.alert_id, again.late_reason) == (raised.alert_id, "record_after_deadline")


def test_a_violation_settled_at_its_deadline_is_not_late_so_an_in_time_verdict_changes_nothing():
    judge = Judge()
    judge.settle(Verdict(DUE, True, ["e-0"]))
    [settled] = judge.settle(Verdict(DUE, True, ["e-0"], settled_at=DUE, settled_by=["e-1"]))
    assert isinstance(settled, AlertResolved)
    assert settled.late_reason == "record_after_deadline"
    assert judge.settle(Verdict(DUE, False, settled_by=["e-2"])) == []


def test_a_deadline_moved_by_a_later_record_resolves_the_old_alert_and_judges_the_new_deadline():
    judge = Judge()
    [first] = judge.settle(Verdict(DUE, True, ["e-0"]))
    moved = judge.settle(Verdict(DUE + 86_400_000, True, ["e-0"], settled_by=["plan"]))
    [resolved, raised] = moved
    assert isinstance(resolved, AlertResolved)
    assert isinstance(raised, AlertRaised)
    assert (resolved.alert_id, resolved.late_reason) == (first.alert_id, "record_after_deadline")
    assert raised.deadline == at(days=8)


def test_what_was_judged_is_forgotten_only_past_the_horizon():
    judge = Judge()
    judge.h.tick(at(days=100))  # the watermark: 5 minutes of lateness before the tick
    horizon = ms(at(days=100, minutes=-5)) - TRACKED_ALERT_MS
    engine = judge.h.sites
    for deadline in (horizon - 1, horizon):
        settle(Context(engine, "site-a1", engine.states["site-a1"], [], None, horizon), RULE, "site", str(deadline),
               Verdict(deadline, True))  # fmt: skip
    forget_judged(Context(engine, "site-a1", engine.states["site-a1"], [], None, horizon))
    assert list(judge.judged()) == [f"{RULE}|{horizon}"]
