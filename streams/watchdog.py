"""The worker's watchdog: a thread that ends the process when its partitions stop moving.

A worker can hang without dying. Seen in 3 of 87 short probe runs (bench/HISTORY.md): the event
loop kept spinning in aiokafka's metadata refresh, the agents stopped acknowledging and the
process ignored SIGTERM. As long as its heartbeats go out, the group leaves its partitions with
it. Nothing is lost (the records stay uncommitted), but nothing moves either.

So a thread outside the event loop looks, every few seconds, at the partitions the worker is
assigned: the group's committed offset against the log's end. A partition behind its end whose
commit has not moved for `Settings.worker_stall_seconds` is stalled. The thread then logs
`worker_stalled` and ends the process at once (`os._exit`, since a hung loop would not run a
graceful stop). The supervisor starts it again (`make run`, the compose file's restart policy),
and the restarted worker reads the uncommitted records again, as after any crash.

It does not judge while the worker knows why it waits: while an insert or a publish is being
retried after a failure (a warehouse outage is not cured by a restart), and for at most the same
limit while the group rebalances or rule state is recovered (a hang there counts too). Nor when
Kafka cannot be asked; the clocks restart then.
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
BOUNDED_WAITS = (
    "rebalance",
    "recovery",
)  # reasons to wait (streams.faust_adapter.consumer.App.waiting_for) that may hang


@dataclass
class Stalls:
    """Which partitions have stopped: behind their log's end, with a commit unchanged for `after` seconds."""

    after: float
    since: dict[Partition, tuple[int, float]] = field(default_factory=dict)  # -> (commit, first seen at)
    waited: tuple[str, float] | None = None  # the worker's reason to wait, and since when

    def excused(self, now: float, reason: str | None) -> bool:
        """Whether the worker's own reason to wait (None: it has none) spares it judgement now.

        Retrying a failed write and stopping always do. A rebalance or a recovery of rule state
        does for `after` seconds (see `overdue`): a hang inside one would otherwise disarm the
        watchdog for good. The partitions' clocks start again after any wait.
        """
        if reason is None:
            self.waited = None
            return False
        if self.waited is None or self.waited[0] != reason:
            self.waited = (reason, now)
        self.since.clear()
        return self.overdue(now) is None

    def overdue(self, now: float) -> str | None:
        """The cause of a stall, when a bounded wait has lasted `after` seconds."""
        if self.waited is None or self.waited[0] not in BOUNDED_WAITS or now - self.waited[1] < self.after:
            return None
        return f"{self.waited[0]} for {now - self.waited[1]:.0f} s"

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
    """Checks every `interval` seconds; calls `on_stall` with the cause of a stall."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        assigned: Callable[[], Collection[Partition]],
        waiting_for: Callable[[], str | None],
        stall_seconds: float,
        on_stall: Callable[[str], None],
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
                    now = time.monotonic()
                    if self.stalls.excused(now, self._waiting_for()):
                        continue
                    overdue = self.stalls.overdue(now)
                    if overdue is not None:
                        self._on_stall(overdue)
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
                stalled = self.stalls.observe(now, positions)
                if stalled:
                    names = ", ".join(f"{topic}/{number}" for topic, number in stalled)
                    self._on_stall(f"{names} behind the log's end, commit unchanged for {self.stalls.after:.0f} s")
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)

    def stop(self) -> None:
        self._stopped.set()

    def report(self) -> dict[str, object]:
        return {"stall_seconds": self.stalls.after, "behind_unchanged_s": self.stalls.behind(time.monotonic())}


def exit_stalled(cause: str) -> None:
    """End the process now: its event loop may be hung, so a graceful stop may never come."""
    log.error("worker_stalled", cause=cause, exit_code=EXIT_STALLED)
    os._exit(EXIT_STALLED)
