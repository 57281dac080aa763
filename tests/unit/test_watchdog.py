"""The watchdog's judgement: a partition is stalled when it lags with an unchanged commit for long enough."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from streams.checkpoint import until_done
from streams.faust_adapter.consumer import App
from streams.watchdog import Stalls

EVENTS, ALERTS = ("events", 0), ("alerts", 1)


def test_a_lagging_partition_is_stalled_only_once_its_commit_has_not_moved_for_the_limit() -> None:
    stalls = Stalls(after=30)
    assert stalls.observe(0, {EVENTS: (5, 9)}) == []
    assert stalls.observe(29, {EVENTS: (5, 12)}) == []
    assert stalls.observe(30, {EVENTS: (5, 12)}) == [EVENTS]
    assert stalls.behind(31) == {"events/0": 31.0}


def test_a_moving_commit_restarts_the_clock_and_a_caught_up_partition_is_never_stalled() -> None:
    stalls = Stalls(after=30)
    stalls.observe(0, {EVENTS: (5, 9), ALERTS: (7, 7)})
    assert stalls.observe(20, {EVENTS: (6, 9), ALERTS: (7, 7)}) == []
    assert stalls.observe(45, {EVENTS: (6, 9), ALERTS: (7, 7)}) == []
    assert stalls.observe(50, {EVENTS: (6, 9), ALERTS: (7, 7)}) == [EVENTS]
    assert stalls.observe(500, {EVENTS: (9, 9), ALERTS: (7, 7)}) == []
    assert stalls.since == {}


def test_a_partition_no_longer_assigned_is_forgotten_and_reset_forgets_all() -> None:
    stalls = Stalls(after=30)
    stalls.observe(0, {EVENTS: (5, 9), ALERTS: (1, 7)})
    stalls.observe(10, {ALERTS: (1, 7)})
    assert set(stalls.since) == {ALERTS}
    assert stalls.observe(40, {EVENTS: (5, 9), ALERTS: (1, 7)}) == [ALERTS]  # EVENTS' clock started again at 40
    stalls.reset()
    assert stalls.observe(80, {EVENTS: (5, 9), ALERTS: (1, 7)}) == []


def test_retrying_excuses_the_worker_for_as_long_as_it_lasts_and_its_partitions_start_afresh() -> None:
    stalls = Stalls(after=30)
    stalls.observe(0, {EVENTS: (5, 9)})
    assert stalls.excused(10, "retrying warehouse_insert")
    assert stalls.excused(5000, "retrying warehouse_insert")
    assert stalls.overdue(5000) is None
    assert not stalls.excused(5001, None)
    assert stalls.observe(5001, {EVENTS: (5, 9)}) == []
    assert stalls.observe(5031, {EVENTS: (5, 9)}) == [EVENTS]


def test_a_rebalance_or_a_recovery_excuses_the_worker_only_up_to_the_limit() -> None:
    stalls = Stalls(after=30)
    assert stalls.excused(0, "rebalance")
    assert stalls.excused(29, "rebalance")
    assert not stalls.excused(30, "rebalance")
    assert stalls.overdue(30) == "rebalance for 30 s"
    assert stalls.excused(31, "recovery")  # another wait: its own limit
    assert stalls.overdue(60) is None
    assert stalls.overdue(61) == "recovery for 30 s"


def test_an_action_counts_as_retrying_from_its_first_failure_to_its_success() -> None:
    retrying: Counter[str] = Counter()
    seen: list[dict[str, int]] = []

    async def attempt() -> str:
        seen.append(dict(retrying))
        if len(seen) < 3:
            raise ConnectionError("warehouse away")
        return "stored"

    assert asyncio.run(until_done("warehouse_insert", attempt, retrying)) == "stored"
    assert seen == [{}, {"warehouse_insert": 1}, {"warehouse_insert": 1}]
    assert retrying == Counter()


@pytest.mark.parametrize(
    ("state", "reason"),
    [({}, None), ({"rebalancing": True}, "rebalance"), ({"in_recovery": True}, "recovery")],
)
def test_the_worker_says_why_it_may_rightly_make_no_progress(state: dict[str, bool], reason: str | None) -> None:
    app = App("watchdog-test", broker="kafka://127.0.0.1:9", web_enabled=False)
    for name, value in state.items():
        setattr(app, name, value)
    assert app.waiting_for() == reason
    app.retrying["publish"] += 1
    assert app.waiting_for() == (reason or "retrying publish")
