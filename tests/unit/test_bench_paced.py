"""The bench's paced runs: a rate in events/s, or a fraction of the burst's; the city goes on after the burst."""

from __future__ import annotations

import itertools

import pytest

from tests.load.bench import city_events, paced_rate


@pytest.mark.parametrize(("entry", "rate"), [("300", 300.0), ("0.25x", 500.0), ("0.125x", 250.0), ("1x", 2000.0)])
def test_a_paced_rate_is_events_per_second_or_a_fraction_of_the_burst(entry, rate):
    assert paced_rate(entry, burst_rate=2000.0) == rate


def test_the_events_after_the_burst_continue_the_same_city_without_repeating_one():
    _, everything, _ = city_events(sites=5, events=3000)
    _, burst, after = city_events(sites=5, events=1000)
    following = list(itertools.islice(after, 2000))
    assert burst + following == everything
    assert len({event["event_id"] for event in everything}) == 3000
