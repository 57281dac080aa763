"""The bench's received -> queryable latency: an event counts as queryable at the first poll that saw
its insert's stored_at, and the quantiles weigh each group by its events."""

from __future__ import annotations

import time

import pytest

from tests.support.measure import Visibility, by_window, seen_after, weighted_rank


def test_an_insert_is_queryable_at_the_first_poll_that_saw_its_stored_at():
    # Two inserts began at 1 000 and 1 300 ms; the polls at 1 250 and 1 400 ms saw neither, the one
    # at 1 450 the first, the one at 1 700 both.
    polls = [(1250, 900), (1400, 900), (1450, 1000), (1700, 1300)]
    groups = [(800, 1000, 40), (950, 1000, 10), (1100, 1300, 25)]
    assert seen_after(polls, groups) == [(800, 650, 40), (950, 500, 10), (1100, 600, 25)]


def test_polls_answered_out_of_order_count_by_their_time_and_the_latest_seen_so_far():
    polls = [(1700, 1300), (1450, 1000), (1500, 900)]  # the 1 500 ms answer saw less than the one before
    assert seen_after(polls, [(1000, 1000, 1)]) == [(1000, 450, 1)]


def test_an_insert_no_poll_saw_is_an_error_not_a_latency():
    with pytest.raises(RuntimeError, match="never seen"):
        seen_after([(1000, 500)], [(400, 600, 3)])


def test_quantiles_weigh_each_group_by_its_events():
    samples = [(0, 100, 98), (0, 900, 1), (0, 5000, 1)]  # 100 events: 98 at 100 ms, then 900 and 5 000
    assert weighted_rank(samples, 0.5) == 100
    assert weighted_rank(samples, 0.99) == 900
    assert weighted_rank(samples, 1.0) == 5000


def test_windows_group_by_receipt_from_the_start():
    samples = [(10_000, 300, 5), (19_999, 500, 5), (20_000, 2000, 1), (35_000, 400, 2)]
    assert by_window(samples, start_ms=10_000, seconds=10) == [[300, 500], [2000, 2000], [400, 400]]


class Flaky:
    """A reader whose second query fails: the polls stop early."""

    def __init__(self) -> None:
        self.calls = 0

    def query(self, sql: str) -> list[dict[str, int]]:
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("the worker went away")
        return [{"now": 1000 * self.calls, "latest": 0}]

    def wait_for_failure(self) -> None:
        while self.calls < 2:
            time.sleep(0.01)


def test_a_failed_poll_is_raised_on_leaving_rather_than_lengthening_the_latencies():
    reader = Flaky()
    visible = Visibility(reader, "1", every=0.01)
    with pytest.raises(RuntimeError, match="poll for queryable events failed"), visible:
        reader.wait_for_failure()
    assert reader.calls == 2  # no last poll after the failure
