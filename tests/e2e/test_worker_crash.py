"""A worker that dies (SIGKILL) or ends itself (its watchdog) mid-stream: the restarted worker
replays, nothing is lost or doubled. And a worker left idle saves and commits all it has read."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer

from deploy.stack import LocalStack
from streams.watchdog import EXIT_STALLED, group_positions
from tests import factories
from tests.conftest import StackClient, stack_settings, wait_until
from tests.support.measure import worker_stats

pytestmark = pytest.mark.e2e

EVENTS = 10_000
PER_REQUEST = 500


def test_worker_killed_mid_stream_restarts_with_exactly_every_event_stored_once(kafka, tmp_path):
    # Small insert batches, so the kill lands between inserts with uncommitted records in flight.
    stack = LocalStack.from_settings(stack_settings(kafka.bootstrap, tmp_path, sink_batch_records=50), own_kafka=False)
    stack.start()
    client = StackClient(stack)
    try:
        token = client.create_enterprise("ent-a")
        sites = [factories.site_registered(site=f"site-{n}") for n in range(8)]
        assert client.post(sites, token)[0] == 202
        bodies = [
            factories.parcels_received(batch=f"B{n}", site=f"site-{n % 8}", count=1 + n % 50) for n in range(EVENTS)
        ]
        statuses: list[int] = []

        def post_all() -> None:
            for start in range(0, EVENTS, PER_REQUEST):
                statuses.append(client.post(bodies[start : start + PER_REQUEST], token)[0])

        poster = threading.Thread(target=post_all)
        poster.start()
        worker = stack.services["worker"]
        wait_until(lambda: client.scalar("SELECT count() FROM parcel_events") > 500, interval=0.05)
        worker.kill()
        poster.join()
        assert statuses == [202] * (EVENTS // PER_REQUEST)

        worker.start().wait_ready()
        # A slow machine may take minutes; a lost event never arrives and fails here all the same.
        wait_until(lambda: client.scalar("SELECT count() FROM parcel_events") >= EVENTS, timeout=300)
        counts = client.query(
            "SELECT count() AS rows, uniqExact(event_id) AS ids FROM raw_events WHERE event_type = 'parcels.received'"
        )
        assert counts == [{"rows": EVENTS, "ids": EVENTS}]
    finally:
        stack.stop()


def test_a_worker_whose_commits_stop_ends_itself_and_the_stack_starts_it_again(kafka, tmp_path):
    # A save interval far beyond the stall limit holds the events topic's commit at the first
    # save, as a hung worker's would stay: records (ticks, events) keep coming, the commit does not move.
    settings = stack_settings(kafka.bootstrap, tmp_path, rule_save_seconds=3600, worker_stall_seconds=3)
    stack = LocalStack.from_settings(settings, own_kafka=False).start()
    client = StackClient(stack)
    try:
        token = client.create_enterprise("ent-a")
        assert client.post([factories.site_registered(site="site-1")], token)[0] == 202
        bodies = [factories.parcels_received(batch=f"B{n}", site="site-1") for n in range(40)]
        assert client.post(bodies, token)[0] == 202
        worker = stack.services["worker"]
        wait_until(lambda: not worker.running, timeout=90)
        assert '"worker_stalled"' in worker.tail()

        worker.env["TONGFANG_WORKER_STALL_SECONDS"] = "0"  # so the restarted worker stays up to be checked
        assert stack.revive() == [("worker", EXIT_STALLED)]
        wait_until(lambda: client.scalar("SELECT count() FROM parcel_events") >= len(bodies), timeout=120)
        counts = client.query(
            "SELECT count() AS rows, uniqExact(event_id) AS ids FROM raw_events WHERE event_type = 'parcels.received'"
        )
        assert counts == [{"rows": len(bodies), "ids": len(bodies)}]
    finally:
        stack.stop()


def test_the_last_batch_is_saved_and_committed_though_no_record_follows_it(kafka, tmp_path):
    # No clock ticks, and a save interval the second batch falls inside: only the idle save can
    # save that batch's rule state, and without it the events topic's commit stays behind for good.
    settings = stack_settings(kafka.bootstrap, tmp_path, clock_tick_seconds=0, rule_save_seconds=5)
    stack = LocalStack.from_settings(settings, own_kafka=False).start()
    client = StackClient(stack)
    watcher = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=settings.worker_group, enable_auto_commit=False)
    try:
        token = client.create_enterprise("ent-a")
        assert client.post([factories.site_registered(site="site-1")], token)[0] == 202
        wait_until(lambda: client.scalar("SELECT count() FROM raw_events") >= 1)  # the first batch, saved at once
        assert client.post([factories.parcels_received(batch="B1", site="site-1")], token)[0] == 202
        wait_until(lambda: client.scalar("SELECT count() FROM parcel_events") >= 1)
        partitions = [(settings.topic_events, p) for p in watcher.partitions_for_topic(settings.topic_events) or ()]
        assert partitions
        wait_until(
            lambda: all(committed >= end for committed, end in group_positions(watcher, partitions).values()),
            timeout=30,
        )
    finally:
        watcher.close(autocommit=False)
        stack.stop()


def test_events_held_for_their_insert_when_the_worker_dies_are_stored_by_the_next_one(kafka, tmp_path):
    # An insert that never comes due (a million events, an hour): the rules fold the events and
    # save their state every half second, and the commit must still wait for the insert.
    settings = stack_settings(
        kafka.bootstrap,
        tmp_path,
        sink_insert_min_events=1_000_000,
        sink_insert_max_wait_seconds=3600,
        rule_save_seconds=0.5,
        clock_tick_seconds=0,
    )
    stack = LocalStack.from_settings(settings, own_kafka=False).start()
    client = StackClient(stack)
    watcher = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=settings.worker_group, enable_auto_commit=False)
    try:
        token = client.create_enterprise("ent-a")
        bodies = [factories.site_registered(site="site-1")]
        bodies += [factories.parcels_received(batch=f"B{n}", site="site-1") for n in range(30)]
        assert client.post(bodies, token)[0] == 202
        # Folded: each receipt waits for its disinfection on a timer.
        wait_until(lambda: worker_stats(settings)["site_rules"].get("timers", 0) >= 30)
        time.sleep(3)  # saves every 0.5 s, commits every 1 s
        partitions = [(settings.topic_events, p) for p in watcher.partitions_for_topic(settings.topic_events) or ()]
        positions = group_positions(watcher, partitions).values()
        assert sum(end for _, end in positions) == 1, "the one post is one record"
        assert all(committed < end for committed, end in positions if end), "committed past records not stored"
        assert client.scalar("SELECT count() FROM raw_events") == 0

        worker = stack.services["worker"]
        worker.kill()
        worker.env["TONGFANG_SINK_INSERT_MAX_WAIT_SECONDS"] = "0.5"
        worker.start().wait_ready()
        wait_until(lambda: client.scalar("SELECT count() FROM raw_events") >= len(bodies), timeout=120)
        counts = client.query("SELECT count() AS rows, uniqExact(event_id) AS ids FROM raw_events")
        assert counts == [{"rows": len(bodies), "ids": len(bodies)}]
    finally:
        watcher.close(autocommit=False)
        stack.stop()
