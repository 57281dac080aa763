"""The soak in short form (`make soak` runs it for an hour): a steady stream through the whole
stack over twelve simulated days, sampled every few seconds."""

from __future__ import annotations

import pytest

from tests.load.soak import Soak

pytestmark = [pytest.mark.e2e, pytest.mark.soak]


def test_short_soak_loses_and_doubles_nothing_and_every_process_stays_up(tmp_path):
    soak = Soak(minutes=1.5, interval=10, days=12, sites=6)
    result = soak.run(tmp_path)
    assert result["events_accepted"] == result["events_sent"] > 2000
    assert (result["lost"], result["duplicated"]) == (0, 0)
    assert 0 < result["received_to_stored_ms_p50"] <= result["received_to_stored_ms_p99"]
    samples = result["samples"]
    assert len(samples) >= 6
    assert set(samples[0]["rss_mb"]) == {"worker", "ingest", "notify", "regulator", "kafka"}
    assert all(mb > 0 for sample in samples for mb in sample["rss_mb"].values())  # nothing died
    assert samples[-1]["rule_state_kb"] > 0
    assert set(result["rss_growth_pct"]) == set(samples[0]["rss_mb"])
