"""The worker's consumer never commits past a record no batch has acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import faust
import pytest
from faust.types import TP

from streams.app import create_app
from streams.compliance.catalogue import load
from streams.faust_adapter.consumer import App, Consumer
from streams.warehouse import Reader, Warehouse
from tests.conftest import stack_settings

EVENTS = TP("events", 0)


@pytest.fixture
def consumer() -> Consumer:
    app = App("offsets-test", broker="kafka://127.0.0.1:9", web_enabled=False)
    app.topics.acking_topics.add("events")  # what subscribing an agent to the topic does at start-up
    created = app.consumer
    assert isinstance(created, Consumer)
    return created


def acked(consumer: Consumer, committed: int | None, offsets: list[int]) -> int | None:
    consumer._committed_offset[EVENTS] = committed
    consumer._acked[EVENTS] = list(offsets)
    consumer._acked_index[EVENTS] = set(offsets)
    return consumer._new_offset(EVENTS)


def test_commit_moves_over_the_run_that_starts_at_the_committed_offset(consumer: Consumer) -> None:
    assert acked(consumer, 5, [5, 6, 7, 9]) == 8
    assert consumer._acked[EVENTS] == [9]


def test_commit_waits_while_the_committed_offset_itself_is_unacknowledged(consumer: Consumer) -> None:
    # faust's own check lets one unacknowledged record through (6 - 5 is not > 1).
    assert acked(consumer, 5, [6, 7]) is None
    assert acked(consumer, 5, [40, 41]) is None


def test_with_nothing_committed_the_commit_starts_at_the_log_start(consumer: Consumer) -> None:
    assert acked(consumer, None, [12, 13]) is None  # faust would commit 14, passing 0..11
    assert acked(consumer, None, [0, 1, 2]) == 3


def test_an_offset_jump_is_not_taken_as_acknowledged(consumer: Consumer) -> None:
    consumer._committed_offset[EVENTS] = 5
    asyncio.run(consumer._add_gap(EVENTS, 5, 20))
    assert acked(consumer, 5, [21, 22]) is None


def test_for_a_rules_topic_the_commit_stops_at_the_state_saved(consumer: Consumer) -> None:
    app = consumer.app
    assert isinstance(app, App)
    app.saved.topics.add("events")
    assert acked(consumer, 5, [5, 6, 7]) is None, "nothing saved yet: nothing may be committed"
    app.saved.through[EVENTS] = 7  # state saved through offset 6
    assert acked(consumer, 5, [5, 6, 7, 8]) == 7
    assert consumer._acked[EVENTS] == [7, 8], "acknowledged but not saved: left for a later commit"
    consumer._committed_offset[EVENTS] = 7  # what the commit of 7 records
    app.saved.through[EVENTS] = 20
    assert consumer._new_offset(EVENTS) == 9


def test_the_events_commit_stops_at_the_first_record_not_both_saved_and_stored(consumer: Consumer) -> None:
    app = consumer.app
    assert isinstance(app, App)
    app.saved.topics.add("events")
    app.stored.topics.add("events")
    app.saved.through[EVENTS] = 9
    assert acked(consumer, 5, [5, 6, 7, 8]) is None, "saved but nothing stored yet: nothing may be committed"
    app.stored.through[EVENTS] = 7  # stored through offset 6, the rest held for a later insert
    assert consumer._new_offset(EVENTS) == 7
    assert consumer._acked[EVENTS] == [7, 8], "acknowledged and saved, not stored: left for a later commit"
    consumer._committed_offset[EVENTS] = 7
    app.stored.through[EVENTS] = 30
    assert consumer._new_offset(EVENTS) == 9, "stored further than saved: the commit stops at the state saved"


def test_other_topics_commit_what_is_acknowledged(consumer: Consumer) -> None:
    app = consumer.app
    assert isinstance(app, App)
    app.saved.topics.add("vehicles")
    app.stored.topics.add("vehicles")
    assert acked(consumer, 5, [5, 6, 7]) == 8


async def created_consumer_setting(app: faust.App, attribute: str) -> int:
    """A setting of the Kafka consumer the app's consumer thread creates."""
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    kafka_consumer = consumer._thread._create_worker_consumer(app.transport)
    value = int(getattr(kafka_consumer, attribute))
    await kafka_consumer.stop()
    return value


def test_the_fetch_waits_as_long_as_the_app_says_not_faust_s_fixed_1_5_s() -> None:
    async def created_wait() -> int:
        app = App("fetch-test", broker="kafka://127.0.0.1:9", web_enabled=False, fetch_wait_ms=120)
        return await created_consumer_setting(app, "_fetch_max_wait_ms")

    assert asyncio.run(created_wait()) == 120


def test_the_worker_fetches_as_much_of_a_partition_as_the_setting_says(tmp_path: Path) -> None:
    """faust's 1 MiB a partition would cut a backlog into batches of about 100 records (bench/HISTORY.md)."""

    async def created_fetch_bytes() -> int:
        settings = stack_settings("127.0.0.1:9", tmp_path, worker_fetch_bytes=3 * 1024 * 1024)
        # The warehouse and the reads are not queried before the worker runs.
        app = create_app(settings, cast("Warehouse", object()), load(), cast("Reader", object()))
        return await created_consumer_setting(app, "_max_partition_fetch_bytes")

    assert asyncio.run(created_fetch_bytes()) == 3 * 1024 * 1024
