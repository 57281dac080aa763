"""The worker's watchdog: a thread that ends the process when its partitions stop moving.

A worker can hang without dying. Seen in short probe runs: the event loop kept spinning in
aiokafka's metadata refresh, the agents stopped acknowledging, the process ignored SIGTERM, and
the group kept its partitions assigned to it, because heartbeats still went out. Nothing
was lost (the records stay uncommitted), but nothing moved either.

So a thread outside the event loop looks, every few seconds, at the partitions the worker is
assigned: the group's committed offset against the log's end. A partition behind its end whose
commit has not moved for `Settings.worker_stall_seconds` is stalled. The thread then logs
`worker_stalled` and ends the process at once (`os._exit`, since a hung loop would not run a
graceful stop). The supervisor starts it again (`make run`, the compose file's restart policy),
and the restarted worker reads the uncommitted records again, as after any crash.

It does not judge while the worker knows why it waits: while it recovers rule state, while the
group rebalances, or while an insert or a publish is being retried after a failure (a warehouse
outage is not cured by a restart). Nor when Kafka cannot be asked; the clocks restart then.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("tongfang.watchdog")

Partition = tuple[str, int]  # (topic, partition)
EXIT_STALLED = 70  # EX_SOFTWARE


@dataclass
class Stalls:
    """Which partitions have stopped: behind their log's end, with a commit unchanged for `after` seconds."""

    after: float
    since: dict[Partition, tuple[int, float]] = field(default_factory=dict)  # -> (commit, first seen at)

    def observe(self, now: float, positions: Mapping[Partition, tuple[int, int]]) -> list[Partition]:
        """Take (committed, end) per partition seen at `now`; return the partitions stalled."""
        stalled = []
        for partition, (committed, end) in positions.items():
            seen = self.since.get(partition)
            if committed >= end:
                self.since.pop(partition, None)
            elif seen is None or seen[0] != committed:
                self.since[partition] = (committed, now)
            elif now - seen[1] >= self.after:
                stalled.append(partition)
        for gone in set(self.since) - set(positions):
            del self.since[gone]
        return sorted(stalled)

    def behind(self, now: float) -> dict[str, float]:
        """Seconds each partition behind its end has kept the same commit, as "topic/partition"."""
        since = dict(self.since)  # a copy: the watchdog's thread may be updating it
        return {f"{topic}/{number}": round(now - at, 1) for (topic, number), (_, at) in sorted(since.items())}

    def reset(self) -> None:
        self.since.clear()


def group_positions(consumer: Any, partitions: Collection[Partition]) -> dict[Partition, tuple[int, int]]:
    """(committed, end) per partition for the group of `consumer`, a kafka-python KafkaConsumer
    that never subscribes (so it reads the group's commits without joining it)."""
    from kafka import TopicPartition

    wanted = [TopicPartition(topic, number) for topic, number in partitions]
    ends = consumer.end_offsets(wanted)
    return {(tp.topic, tp.partition): (consumer.committed(tp) or 0, ends[tp]) for tp in wanted}


class Watchdog(threading.Thread):
    """Checks every `interval` seconds; calls `on_stall` with the partitions stalled."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        assigned: Callable[[], Collection[Partition]],
        waiting_for: Callable[[], str | None],
        stall_seconds: float,
        on_stall: Callable[[list[Partition]], None],
        interval: float | None = None,
    ) -> None:
        super().__init__(name="watchdog", daemon=True)
        self._servers, self._group = bootstrap.split(","), group
        self._assigned, self._waiting_for, self._on_stall = assigned, waiting_for, on_stall
        self.stalls = Stalls(stall_seconds)
        self.interval = interval if interval is not None else min(10.0, stall_seconds / 4)
        self._stopped = threading.Event()

    def run(self) -> None:
        from kafka import KafkaConsumer

        consumer = None
        try:
            while not self._stopped.wait(self.interval):
                try:
                    if self._waiting_for() is not None:
                        self.stalls.reset()
                        continue
                    if consumer is None:
                        consumer = KafkaConsumer(
                            bootstrap_servers=self._servers, group_id=self._group, enable_auto_commit=False
                        )
                    positions = group_positions(consumer, self._assigned())
                except Exception as exc:  # Kafka unreachable or the assignment changing: judge nothing now
                    log.warning("watchdog_check_failed", error=repr(exc))
                    self.stalls.reset()
                    continue
                stalled = self.stalls.observe(time.monotonic(), positions)
                if stalled:
                    self._on_stall(stalled)
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)

    def stop(self) -> None:
        self._stopped.set()

    def report(self) -> dict[str, object]:
        return {"stall_seconds": self.stalls.after, "behind_unchanged_s": self.stalls.behind(time.monotonic())}


def exit_stalled(stalled: list[Partition]) -> None:
    """End the process now: its event loop may be hung, so a graceful stop may never come."""
    log.error("worker_stalled", partitions=[f"{topic}/{number}" for topic, number in stalled], exit_code=EXIT_STALLED)
    os._exit(EXIT_STALLED)
