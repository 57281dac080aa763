"""The watchdog against a real broker: a group's commit held behind the log's end is reported
stalled, and only once the worker has no reason to wait."""

from __future__ import annotations

import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from streams.watchdog import Watchdog, group_positions
from tests.conftest import wait_until

TOPIC, GROUP = "watchdog-test", "watchdog-group"


def test_a_commit_held_behind_the_end_is_stalled_once_nothing_explains_the_wait(kafka) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(TOPIC, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for partition, records in ((0, 10), (1, 3)):
        for n in range(records):
            producer.send(TOPIC, value=b"%d" % n, partition=partition)
    producer.flush()
    producer.close()
    group = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=GROUP, enable_auto_commit=False)
    group.commit(
        {TopicPartition(TOPIC, 0): OffsetAndMetadata(4, "", -1), TopicPartition(TOPIC, 1): OffsetAndMetadata(3, "", -1)}
    )
    assert group_positions(group, [(TOPIC, 0), (TOPIC, 1)]) == {(TOPIC, 0): (4, 10), (TOPIC, 1): (3, 3)}
    group.close(autocommit=False)

    waiting_for: list[str | None] = ["retrying warehouse_insert"]
    stalled: list[str] = []
    judged = threading.Event()

    def waiting() -> str | None:
        judged.set()
        return waiting_for[0]

    watchdog = Watchdog(
        kafka.bootstrap,
        GROUP,
        lambda: [(TOPIC, 0), (TOPIC, 1)],
        waiting,
        stall_seconds=1.0,
        on_stall=stalled.append,
        interval=0.2,
    )
    watchdog.start()
    try:
        assert judged.wait(10)
        time.sleep(2.0)  # twice the limit, retrying a failed insert
        assert stalled == []
        waiting_for[0] = None
        wait_until(lambda: stalled, timeout=20, interval=0.1)
        assert stalled[0] == f"{TOPIC}/0 behind the log's end, commit unchanged for 1 s"
        assert list(watchdog.report()["behind_unchanged_s"]) == [f"{TOPIC}/0"]  # type: ignore[call-overload]
    finally:
        watchdog.stop()
        watchdog.join(10)
    assert not watchdog.is_alive()
