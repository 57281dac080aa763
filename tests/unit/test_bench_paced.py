"""The bench's paced runs: a rate in events/s, or a fraction of the burst's; the city goes on after the burst."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tests.load.bench import city_events, in_the_past, paced_rate


@pytest.mark.parametrize(("entry", "rate"), [("300", 300.0), ("0.25x", 500.0), ("0.125x", 250.0), ("1x", 2000.0)])
def test_a_paced_rate_is_events_per_second_or_a_fraction_of_the_burst(entry, rate):
    assert paced_rate(entry, burst_rate=2000.0) == rate


def test_the_events_after_the_burst_continue_the_same_city_without_repeating_one():
    _, everything, _ = city_events(sites=5, events=3000)
    _, burst, after = city_events(sites=5, events=1000)
    following = list(itertools.islice(after, 2000))
    assert burst + following == everything
    assert len({event["event_id"] for event in everything}) == 3000


def test_a_paced_run_never_posts_an_event_from_the_future():
    _, _, after = city_events(sites=5, events=1000)
    following = list(itertools.islice(after, 2000))
    assert in_the_past(following, datetime.now(UTC)) == following  # the city starts PAST_DAYS ago
    last = datetime.fromisoformat(following[-1]["occurred_at"])
    with pytest.raises(SystemExit, match="runs out of past"):
        in_the_past(following, last - timedelta(seconds=1))
