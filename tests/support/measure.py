"""Measuring a running stack, shared by the e2e tests and the load benches: the worker's /stats,
when events became queryable, and quantiles by nearest rank."""

from __future__ import annotations

import bisect
import json
import math
import threading
import urllib.request
from typing import Any, Self

from streams.settings import Settings
from streams.warehouse import Reader


def worker_stats(settings: Settings) -> dict[str, Any]:
    """The running worker's /stats page: its sink's counters and its rules' footprint."""
    url = f"http://{settings.worker_web_host}:{settings.worker_web_port}/stats"
    with urllib.request.urlopen(url, timeout=30) as response:
        stats: dict[str, Any] = json.loads(response.read())
        return stats


def sink_batches(settings: Settings) -> int:
    """Batches of events the worker has stored since it started."""
    return int(worker_stats(settings)["batches"])


class Polling:
    """A thread that calls `once`, `every` seconds after the call before, until the block ends. A
    failed call stops it, and is raised on leaving the block as `failure` (unless the block raised)."""

    failure = "a poll failed"

    def __init__(self, every: float, name: str) -> None:
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._failed: Exception | None = None

    def once(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        if error_type is None and self._failed is not None:
            raise RuntimeError(f"{self.failure}: {self._failed}") from self._failed

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.once()
            except Exception as exc:  # raised again, in the caller's thread, on leaving
                self._failed = exc
                return


class Visibility(Polling):
    """When the events received since a moment became queryable: a thread asks the warehouse every
    `every` seconds for the latest `stored_at` among them and the warehouse's own time.

    `stored_at` is stamped as the insert begins; an event can be read once the insert is done,
    up to a few hundred milliseconds later at the paced rates (the parts of some 15 tables are
    written in between). `reader` is to ask with `after_inserts` (streams/web.py): such a read
    runs after the inserts already begun, so one that sees an insert's `stored_at` ran after that
    insert ended: its time bounds the moment the insert's events became queryable in every table
    from above, by at most `every` plus the time a read takes."""

    failure = "a poll for queryable events failed"  # the polls stopped early: the latencies would be too long

    def __init__(self, reader: Reader, condition: str, every: float = 0.1) -> None:
        super().__init__(every, "visibility")
        self._reader, self._condition = reader, condition
        self.polls: list[tuple[int, int]] = []  # (warehouse time, latest stored_at seen), ms

    def __exit__(self, error_type: type[BaseException] | None, *rest: object) -> None:
        super().__exit__(error_type, *rest)
        if error_type is None:
            self.once()  # once more, after every event counted is stored

    def once(self) -> None:
        row = self._reader.query(
            "SELECT toUnixTimestamp64Milli(now64(3)) AS now, toUnixTimestamp64Milli(max(stored_at)) AS latest "
            f"FROM raw_events WHERE {self._condition}"
        )[0]
        self.polls.append((int(row["now"]), int(row["latest"])))

    def latencies(self) -> list[tuple[int, int, int]]:
        """(received_at, received -> queryable ms, events) for the events received since the moment."""
        rows = self._reader.query(
            "SELECT toUnixTimestamp64Milli(received_at) AS received, toUnixTimestamp64Milli(stored_at) AS stored, "
            f"count() AS n FROM raw_events WHERE {self._condition} GROUP BY received, stored"
        )
        return seen_after(self.polls, [(int(r["received"]), int(r["stored"]), int(r["n"])) for r in rows])


def seen_after(polls: list[tuple[int, int]], groups: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """For each (received_at, stored_at, events): received_at, the time of the first poll that saw a
    `stored_at` at least its own, minus received_at, and the events."""
    times, highest, top = [], [], -1
    for at, latest in sorted(polls):
        top = max(top, latest)
        times.append(at)
        highest.append(top)
    out = []
    for received, stored, events in groups:
        first = bisect.bisect_left(highest, stored)
        if first == len(highest):
            raise RuntimeError(f"events stored at {stored} ms were never seen by a poll (the last saw {top})")
        out.append((received, times[first] - received, events))
    return out


def weighted_rank(samples: list[tuple[int, int, int]], q: float) -> int:
    """The q-quantile by nearest rank of the latencies of (received, latency, events) groups."""
    ordered = sorted((latency, events) for _, latency, events in samples)
    rank, seen = max(1, math.ceil(q * sum(events for _, events in ordered))), 0
    for latency, events in ordered:
        seen += events
        if seen >= rank:
            return latency
    raise ValueError("no samples")


def by_window(samples: list[tuple[int, int, int]], start_ms: int, seconds: int) -> list[list[int]]:
    """[p50, p99] per `seconds` of receipt from `start_ms`: flat when the stack keeps up, growing when
    the paced rate is more than it can store."""
    windows: dict[int, list[tuple[int, int, int]]] = {}
    for sample in samples:
        windows.setdefault((sample[0] - start_ms) // (seconds * 1000), []).append(sample)
    return [[weighted_rank(group, 0.5), weighted_rank(group, 0.99)] for _, group in sorted(windows.items())]


def nearest_rank(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted samples by nearest rank: of 20, p95 is the 19th and p99 the 20th."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
