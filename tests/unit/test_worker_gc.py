"""The worker's garbage collection: decoded events are not tracked, and the worker collects rarely."""

from __future__ import annotations

import gc

import orjson
import pytest

from schemas import events
from streams import __main__ as worker
from tests import factories


def test_decoded_events_and_their_payloads_are_not_tracked_by_the_collector() -> None:
    bodies = [factories.site_registered(), factories.health_checked(), factories.parcels_received()]
    for body in bodies:
        event = events.decode(orjson.dumps(body))
        assert not gc.is_tracked(event), type(event).__name__
        assert not gc.is_tracked(event.payload), type(event.payload).__name__


def test_the_worker_sets_its_collection_thresholds_before_it_starts(monkeypatch) -> None:
    class Started(Exception):
        pass

    def settings() -> None:
        raise Started  # the first thing main() does after setting the thresholds

    before = gc.get_threshold()
    monkeypatch.setattr(worker, "Settings", settings)
    try:
        with pytest.raises(Started):
            worker.main()
        assert gc.get_threshold() == worker.GC_THRESHOLDS
        assert worker.GC_THRESHOLDS[0] > before[0]
    finally:
        gc.set_threshold(*before)
