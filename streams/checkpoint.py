"""When the worker may commit an offset, and the order of the work that decides it.

The worker acknowledges a batch of records to faust once the rules have folded it, and faust
commits acknowledged offsets every second. An offset may be committed only once every record
before it on its partition is

* **stored**: inserted in the warehouse, or parked there (the `stored` gate, on the events topic);
* **saved**: folded into rule state that is durable, whose alerts were published before it (the
  `saved` gate, on each topic the rules fold: events and vehicles).

`Checkpoint` owns both gates and the work that moves them. For a batch of events, in this order:

1. **hold**: `hold()` adds the batch's decoded records to those held for their insert (`Held`).
   Once they make `min_events` events, or the first has waited `max_wait` seconds, they are stored.
2. **store**: `store()` inserts every record held in one insert, its first attempt sent to the
   warehouse thread at once so it runs beside the rules. When it is done, and every store started
   before it is done too (so the gate moves in log order), the `stored` gate passes its records
   and their dead letters are published.
3. **fold**: `fold()` takes the folding's lock and lets the rules fold the batch.
4. **publish**: the alerts and re-keyed records of the fold are sent, and Kafka acknowledges them.
5. **save**: if `save_seconds` have passed since the last save, the rule state folded so far is
   saved, and then the `saved` gate passes the records that state covers. The lock is released.
6. **commit**: faust's commit moves over acknowledged offsets below both gates
   (`streams.faust_adapter.consumer`).

A crash at any step reads again every record past the commit. The sink skips ids it has stored
and the rules skip records their loaded state has folded, so the replay stores and raises nothing
twice, and an alert raised again carries the same id. Steps 2, 4 and 5 are retried until they
succeed (`until_done`): raising would end the agent's stream, whose cleanup acknowledges the batch.

When no batch comes, two timers do what it would have done: `store_when_due()` stores records
whose wait is up, and `save_when_idle()` saves state folded since the last save. On revocation,
`hand_back()` stores what is held, waits for the last store, then saves each folding under its lock
and drops the engines of the revoked partitions: their state moves to the next owner.

Nothing here knows faust or Kafka: the gates are read by the consumer, the writes are given as
functions, and the unit tests drive each step with in-memory fakes (`tests/unit/test_checkpoint.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_never, wait_exponential

from streams.records import DeadLetter, Decoded
from streams.rule_stream import Changes, Output
from streams.sink import SinkResult

log = structlog.get_logger("tongfang.worker")

T = TypeVar("T")
TopicPartition = tuple[str, int]  # faust's TP is this tuple, named


@dataclass
class Gate:
    """Work done on records after their batch is acknowledged: the commit of `topics` stops at
    `through`, per partition the first offset that work may not have done yet."""

    topics: set[str] = field(default_factory=set)
    through: dict[TopicPartition, int] = field(default_factory=dict)


class Rules(Protocol):
    """What the checkpoint needs of the rules it saves (`streams.rule_stream.PartitionedRules`)."""

    def unsaved(self) -> bool: ...
    def save_due(self, interval: float) -> bool: ...
    def folded(self) -> dict[int, int]: ...
    def take_changes(self) -> Changes: ...
    async def checkpoint(self, changes: Changes) -> None: ...
    def forget(self, partitions: set[int]) -> None: ...


@dataclass
class Folding:
    """Rules, the topic they fold, and the lock held from folding a batch until its alerts are
    published and (when due) its state saved: no save writes state whose alerts are not out yet,
    and two saves never overlap."""

    rules: Rules
    topic: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class SinkStats:
    batches: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    parked: int = 0
    last_batch_at: float = 0.0

    def add(self, records: int, result: SinkResult) -> None:
        self.batches += 1
        self.records += records
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.parked += len(result.parked)
        self.last_batch_at = time.time()


class Held:
    """Decoded records waiting for their insert, oldest first.

    An insert costs the worker much the same CPU whatever its size (its lookups, the part each
    view writes, the merges of those parts later: bench/HISTORY.md, "Runs of the stop of 30
    November, small batches held for their insert"). So the records of small batches are held
    until they make `min_events` events (valid or parked), or the first has been held `max_wait`
    seconds.
    """

    def __init__(self, min_events: int, max_wait: float) -> None:
        self._min_events = min_events
        self._max_wait = max_wait
        self._items: list[Decoded] = []
        self._events = 0
        self._since = 0.0  # when the first record now held came

    def add(self, decoded: list[Decoded], now: float) -> None:
        if not self._items:
            self._since = now
        self._items += decoded
        self._events += sum(len(item.valid) + len(item.parked) for item in decoded)

    def __bool__(self) -> bool:
        return bool(self._items)

    def due(self, now: float) -> bool:
        return bool(self._items) and (self._events >= self._min_events or now - self._since >= self._max_wait)

    def take(self) -> list[Decoded]:
        items, self._items, self._events = self._items, [], 0
        return items


def next_offsets(decoded: list[Decoded]) -> dict[TopicPartition, int]:
    """Per (topic, partition), the offset after the last of these records."""
    after: dict[TopicPartition, int] = {}
    for item in decoded:
        key = (item.record.topic, item.record.partition)
        after[key] = max(after.get(key, 0), item.record.offset + 1)
    return after


class Checkpoint:
    """The steps of the module docstring, and the two gates they move.

    `insert` stores decoded records and is retried until it succeeds, its first attempt already
    under way when it returns (`in_thread`); `publish` sends a fold's output and waits for Kafka's
    acks; `park` publishes dead letters already stored and must not raise.
    """

    def __init__(
        self,
        *,
        held: Held,
        insert: Callable[[list[Decoded]], Awaitable[SinkResult]],
        publish: Callable[[Output], Awaitable[None]],
        park: Callable[[list[DeadLetter]], Awaitable[None]],
        stored_topic: str,
        foldings: tuple[Folding, ...],
        save_seconds: float,
        stored: Gate,
        saved: Gate,
        retrying: Counter[str],
    ) -> None:
        self._held = held
        self._insert = insert
        self._publish = publish
        self._park = park
        self._foldings = foldings
        self._save_seconds = save_seconds
        self._retrying = retrying
        self._last_store: asyncio.Future[None] | None = None  # the store started last: the next ends after it
        self.stored, self.saved = stored, saved
        self.stored.topics.add(stored_topic)
        self.saved.topics.update(folding.topic for folding in foldings)
        self.stats = SinkStats()

    # 1. hold

    def hold(self, decoded: list[Decoded], now: float) -> asyncio.Future[None] | None:
        """Hold a batch's records for their insert; the store it starts when that is due, else None."""
        self._held.add(decoded, now)
        return self.store() if self._held.due(now) else None

    async def store_when_due(self, now: float) -> None:
        """Store the records held once their wait is up, when no batch comes to do it."""
        if self._held.due(now):
            await self.store()

    # 2. store

    def store(self) -> asyncio.Future[None]:
        """Insert every record held now, the first attempt sent at once; the `stored` gate passes
        them once this insert and every one started before it are done. An insert retried after a
        failure can end after a later one; the gate still passes records in the order they came."""
        decoded = self._held.take()
        inserting = self._insert(decoded)
        before = self._last_store

        async def finish() -> None:
            result = await inserting
            if before is not None:
                await before
            self.stored.through.update(next_offsets(decoded))
            await self._park(result.parked)
            self.stats.add(len(decoded), result)

        self._last_store = asyncio.ensure_future(finish())
        return self._last_store

    # 3.-5. fold, publish, save

    async def fold(self, folding: Folding, work: Callable[[], Awaitable[Output]]) -> Output:
        """Fold a batch under the folding's lock, publish what it produced, and save when due.

        Alerts before state: a crash before the state is saved reads the records again and
        raises their alerts again, with the same ids."""
        async with folding.lock:
            out = await work()
            await until_done("publish", lambda: self._publish(out), self._retrying)
            if folding.rules.save_due(self._save_seconds):
                await self.save(folding)
        for alert in out.alerts:
            log.info("alert", type=type(alert).__name__, rule=alert.rule_id, site=alert.site_id, id=alert.alert_id)
        return out

    async def save(self, folding: Folding) -> None:
        """Save the state folded so far (its lock held by the caller); then the `saved` gate
        passes the records it covers."""
        folded, changes = folding.rules.folded(), folding.rules.take_changes()
        await until_done("checkpoint", lambda: folding.rules.checkpoint(changes), self._retrying)
        self.saved.through.update({(folding.topic, p): offset + 1 for p, offset in folded.items()})

    async def save_when_idle(self) -> None:
        """Save what was folded since the last save when no batch came to save it.

        A batch saves only when the interval has passed; without a later record (clock ticks off,
        or a quiet partition) the last one's state would wait, and the commit with it, for good. A
        batch under way holds the lock and saves when it is due: no need to wait for it here (the
        rules let the loop run while they fold, so this would wait seconds for the lock)."""
        for folding in self._foldings:
            if folding.lock.locked():
                continue
            async with folding.lock:
                if folding.rules.unsaved() and folding.rules.save_due(self._save_seconds):
                    await self.save(folding)

    # revocation

    async def hand_back(self, revoked: Iterable[TopicPartition]) -> None:
        """Before partitions go to another worker: store what is held (rather than have the next
        owner read it again), wait for the last store, then save each folding and drop the engines
        of the revoked partitions.

        Each save under its folding's lock: faust waits for the batches under way to be
        acknowledged before it revokes, but an idle save may be writing, and a save beside it
        would mark its offsets saved before its state is."""
        revoked = list(revoked)
        if self._held:
            self.store()
        if self._last_store is not None:
            await self._last_store
        for folding in self._foldings:
            async with folding.lock:
                await self.save(folding)
                folding.rules.forget({partition for topic, partition in revoked if topic == folding.topic})


def in_thread(action: str, executor: Executor, work: Callable[[], T], retrying: Counter[str]) -> Awaitable[T]:
    """Run `work` in `executor` until it succeeds (`until_done`), its first attempt submitted now.

    Not when the event loop next runs: the worker starts a batch's insert and then evaluates the
    rules on the loop's thread, and the insert is to run in the warehouse thread from the start, not
    from the rules' first pause."""
    loop = asyncio.get_running_loop()
    attempts: list[asyncio.Future[T]] = [loop.run_in_executor(executor, work)]

    def attempt() -> asyncio.Future[T]:
        return attempts.pop() if attempts else loop.run_in_executor(executor, work)

    return until_done(action, attempt, retrying)


async def until_done(action: str, attempt_once: Callable[[], Awaitable[T]], retrying: Counter[str]) -> T:
    """Retry until it succeeds: the batch is not acknowledged (nor its offsets committed) before.
    Raising instead would end the agent's stream, whose cleanup acknowledges the batch.

    From its first failure to its success the action counts in `retrying`: the worker then knows
    why it makes no progress, and the watchdog leaves it be (`streams.watchdog`)."""
    failed = False

    def before_sleep(state: RetryCallState) -> None:
        nonlocal failed
        if not failed:
            failed = True
            retrying[action] += 1
        log.warning(
            f"{action}_retry",
            attempt=state.attempt_number,
            error=str(state.outcome.exception() if state.outcome else None),
        )

    try:
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=30), stop=stop_never, before_sleep=before_sleep
        ):
            with attempt:
                return await attempt_once()
    finally:
        if failed:
            retrying[action] -= 1
            if retrying[action] <= 0:
                del retrying[action]
    raise AssertionError("unreachable: the retry loop never stops")
