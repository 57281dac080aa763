"""The worker's checkpoint, one test per step and transition, on in-memory fakes (`streams.checkpoint`).

The fakes stand for what the checkpoint is given: an insert whose end each test decides, a
publisher, and rules that fold, save and forget. Each test drives the steps in the order the
worker would and asserts what the two gates let the commit pass at each point.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import orjson

from streams.checkpoint import Checkpoint, Folding, Gate, Held
from streams.records import DeadLetter, Decoded, Record, decode_records
from streams.rule_stream import Changes, Output
from streams.sink import SinkResult
from tests import factories

STAMP = int(factories.BASE_TIME.timestamp() * 1000)


def batch(offsets: range, partition: int = 0, invalid: bool = False) -> list[Decoded]:
    """One record of one parcel event at each offset (an invalid one, parked, with `invalid`)."""
    made = []
    for offset in offsets:
        body = factories.parcels_received(batch=f"B{offset}")
        if invalid:
            body.pop("event_id")
        made.append(Record("events", partition, offset, b"site-a1", orjson.dumps(body), STAMP))
    return decode_records(made, timedelta(days=100_000))


class Warehouse:
    """Inserts that end when the test says."""

    def __init__(self) -> None:
        self.inserts: list[tuple[list[Decoded], asyncio.Future[SinkResult]]] = []

    def insert(self, decoded: list[Decoded]) -> asyncio.Future[SinkResult]:
        done: asyncio.Future[SinkResult] = asyncio.get_running_loop().create_future()
        self.inserts.append((decoded, done))
        return done

    def finish(self, n: int) -> None:
        decoded, done = self.inserts[n]
        done.set_result(
            SinkResult(stored=sum(len(d.valid) for d in decoded), parked=[p for d in decoded for p in d.parked])
        )


class Rules:
    """Rules that fold offsets of one partition, save them (failing `failures` times first), and forget."""

    def __init__(self, name: str, steps: list[str]) -> None:
        self.name, self.steps = name, steps
        self.through: dict[int, int] = {}
        self.dirty = False
        self.due = True
        self.failures = 0
        self.saved: Changes = {}
        self.engines = {0, 1, 2}
        self.writing: asyncio.Event | None = None  # when set, a save waits for it

    async def fold(self, partition: int, offsets: range) -> Output:
        self.steps.append(f"fold {self.name} {offsets.start}-{offsets.stop - 1}")
        self.through[partition] = offsets.stop - 1
        self.dirty = True
        return Output()

    def unsaved(self) -> bool:
        return self.dirty

    def save_due(self, interval: float) -> bool:
        return self.due

    def folded(self) -> dict[int, int]:
        return dict(self.through)

    def take_changes(self) -> Changes:
        self.dirty = False
        return {p: {"offset": {"through": offset}} for p, offset in self.through.items()}

    async def checkpoint(self, changes: Changes) -> None:
        self.steps.append(f"save {self.name}")
        if self.writing is not None:
            await self.writing.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("changelog away")
        self.saved.update(changes)
        self.steps.append(f"saved {self.name}")

    def forget(self, partitions: set[int]) -> None:
        self.engines -= partitions


class World:
    def __init__(self, min_events: int = 1, max_wait: float = 60.0, publish_failures: int = 0) -> None:
        self.steps: list[str] = []
        self.warehouse = Warehouse()
        self.parked: list[DeadLetter] = []
        self.retrying: Counter[str] = Counter()
        self.retrying_seen: list[dict[str, int]] = []
        self.publish_failures = publish_failures
        self.site, self.vehicles = Rules("events", self.steps), Rules("vehicles", self.steps)
        self.foldings = (Folding(self.site, "events"), Folding(self.vehicles, "vehicles"))
        self.stored, self.saved = Gate(), Gate()
        self.checkpoint = Checkpoint(
            held=Held(min_events, max_wait),
            insert=self.warehouse.insert,
            publish=self.publish,
            park=self.park,
            stored_topic="events",
            foldings=self.foldings,
            save_seconds=5.0,
            stored=self.stored,
            saved=self.saved,
            retrying=self.retrying,
        )

    async def publish(self, out: Output) -> None:
        self.retrying_seen.append(dict(self.retrying))
        if self.publish_failures:
            self.publish_failures -= 1
            self.steps.append("publish failed")
            raise ConnectionError("broker away")
        self.steps.append("published")

    async def park(self, letters: list[DeadLetter]) -> None:
        self.parked += letters

    async def fold(self, folding: int, offsets: range, partition: int = 0) -> Output:
        rules = (self.site, self.vehicles)[folding]
        return await self.checkpoint.fold(self.foldings[folding], lambda: rules.fold(partition, offsets))


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_topics_are_gated_as_the_checkpoint_says() -> None:
    world = World()
    assert world.stored.topics == {"events"}
    assert world.saved.topics == {"events", "vehicles"}


def test_records_are_held_then_stored_in_one_insert_and_the_gate_waits_for_it() -> None:
    async def scenario() -> None:
        world = World(min_events=4)
        assert world.checkpoint.hold(batch(range(0, 2)), now=0) is None, "2 events of 4: held"
        assert world.warehouse.inserts == []
        storing = world.checkpoint.hold(batch(range(2, 4), invalid=True), now=1)
        assert storing is not None, "4 events, the parked ones counted"
        assert [d.record.offset for d in world.warehouse.inserts[0][0]] == [0, 1, 2, 3], "one insert of all held"
        await turns()
        assert world.stored.through == {}, "the insert is not done: the commit may pass nothing"
        world.warehouse.finish(0)
        await storing
        assert world.stored.through == {("events", 0): 4}
        assert [letter.record.offset for letter in world.parked] == [2, 3], "letters published once stored"
        stats = world.checkpoint.stats
        assert (stats.batches, stats.records, stats.stored, stats.parked) == (1, 4, 2, 2)

    run(scenario())


def test_an_insert_done_before_an_earlier_one_lets_the_gate_pass_neither_until_both_are() -> None:
    async def scenario() -> None:
        world = World()
        first = world.checkpoint.hold(batch(range(0, 2)), now=0)
        second = world.checkpoint.hold(batch(range(2, 4)), now=0)
        assert first is not None
        assert second is not None
        world.warehouse.finish(1)  # the later insert ends first (the earlier one is being retried)
        await turns()
        assert world.stored.through == {}, "the gate may not pass offsets 0 and 1, which are not stored"
        assert not second.done()
        world.warehouse.finish(0)
        await second
        assert first.done()
        assert world.stored.through == {("events", 0): 4}

    run(scenario())


def test_held_records_are_stored_when_their_wait_is_up_with_no_batch_to_store_them() -> None:
    async def scenario() -> None:
        world = World(min_events=1000, max_wait=0.75)
        world.checkpoint.hold(batch(range(0, 3)), now=10.0)
        await world.checkpoint.store_when_due(now=10.5)
        assert world.warehouse.inserts == []
        storing = asyncio.ensure_future(world.checkpoint.store_when_due(now=10.75))
        await turns()
        assert len(world.warehouse.inserts) == 1
        world.warehouse.finish(0)
        await storing
        assert world.stored.through == {("events", 0): 3}
        await world.checkpoint.store_when_due(now=100.0)
        assert len(world.warehouse.inserts) == 1, "nothing held: nothing to store"

    run(scenario())


def test_a_fold_publishes_its_output_before_the_state_is_saved_then_the_gate_passes_what_it_folded() -> None:
    async def scenario() -> None:
        world = World()
        await world.fold(0, range(5, 8), partition=1)
        assert world.steps == ["fold events 5-7", "published", "save events", "saved events"]
        assert world.saved.through == {("events", 1): 8}
        assert world.site.saved == {1: {"offset": {"through": 7}}}

    run(scenario())


def test_a_fold_before_its_save_is_due_is_published_and_left_unsaved() -> None:
    async def scenario() -> None:
        world = World()
        world.site.due = False
        await world.fold(0, range(0, 3))
        assert world.steps == ["fold events 0-2", "published"]
        assert world.saved.through == {}, "not saved: the commit may pass nothing folded"
        assert world.site.unsaved()

    run(scenario())


def test_a_failed_publish_is_retried_and_no_state_is_saved_before_it_succeeds() -> None:
    async def scenario() -> None:
        world = World(publish_failures=1)
        await world.fold(0, range(0, 3))
        assert world.steps == ["fold events 0-2", "publish failed", "published", "save events", "saved events"]
        assert world.retrying_seen == [{}, {"publish": 1}], "the worker says what it retries"
        assert world.retrying == Counter()
        assert world.saved.through == {("events", 0): 3}

    run(scenario())


def test_a_failed_save_is_retried_and_the_gate_waits_for_its_success() -> None:
    async def scenario() -> None:
        world = World()
        world.site.failures = 1
        folding = asyncio.ensure_future(world.fold(0, range(0, 3)))
        await asyncio.sleep(0.05)  # the first attempt failed; the retry waits 0.2 s
        assert world.steps == ["fold events 0-2", "published", "save events"]
        assert world.saved.through == {}, "state not saved: the gate holds"
        assert world.retrying == Counter({"checkpoint": 1})
        await folding
        assert world.steps[-2:] == ["save events", "saved events"]
        assert world.saved.through == {("events", 0): 3}
        assert world.retrying == Counter()

    run(scenario())


def test_an_idle_save_saves_what_was_folded_and_leaves_a_folding_under_way_to_save_itself() -> None:
    async def scenario() -> None:
        world = World()
        world.site.due = world.vehicles.due = False
        await world.fold(0, range(0, 3))
        await world.fold(1, range(10, 12))
        world.steps.clear()
        world.site.due = world.vehicles.due = True
        site_folding = world.foldings[0]
        async with site_folding.lock:  # a batch of events under way: the idle save does not wait for it
            await asyncio.wait_for(world.checkpoint.save_when_idle(), timeout=1)
        assert world.steps == ["save vehicles", "saved vehicles"]
        assert world.saved.through == {("vehicles", 0): 12}
        world.steps.clear()
        await world.checkpoint.save_when_idle()
        assert world.steps == ["save events", "saved events"], "vehicles: nothing unsaved since"
        assert world.saved.through == {("vehicles", 0): 12, ("events", 0): 3}

    run(scenario())


def test_an_idle_save_waits_for_the_interval() -> None:
    async def scenario() -> None:
        world = World()
        world.site.due = False
        await world.fold(0, range(0, 3))
        world.steps.clear()
        await world.checkpoint.save_when_idle()
        assert world.steps == []
        assert world.saved.through == {}

    run(scenario())


def test_the_hand_back_stores_what_is_held_then_saves_each_folding_and_forgets_only_revoked_partitions() -> None:
    async def scenario() -> None:
        world = World(min_events=1000)
        world.site.due = world.vehicles.due = False
        world.checkpoint.hold(batch(range(0, 3)), now=0)
        await world.fold(0, range(0, 3))
        await world.fold(1, range(0, 2), partition=2)
        world.steps.clear()
        revoked = {("events", 1), ("vehicles", 2), ("other", 0)}
        handing = asyncio.ensure_future(world.checkpoint.hand_back(revoked))
        await turns()
        assert len(world.warehouse.inserts) == 1, "the held records are stored, not left to the next owner"
        assert world.steps == [], "no save before the last store is done"
        world.warehouse.finish(0)
        await handing
        assert world.stored.through == {("events", 0): 3}
        assert world.steps == ["save events", "saved events", "save vehicles", "saved vehicles"]
        assert world.saved.through == {("events", 0): 3, ("vehicles", 2): 2}
        assert world.site.engines == {0, 2}
        assert world.vehicles.engines == {0, 1}

    run(scenario())


def test_the_hand_back_waits_for_an_idle_save_under_way_before_its_own() -> None:
    async def scenario() -> None:
        world = World()
        world.site.due = world.vehicles.due = False
        await world.fold(0, range(0, 3))
        world.steps.clear()
        world.site.due = True
        world.site.writing = asyncio.Event()  # the idle save's write lands when the test says
        idle = asyncio.ensure_future(world.checkpoint.save_when_idle())
        await turns()
        handing = asyncio.ensure_future(world.checkpoint.hand_back({("events", 1)}))
        await asyncio.sleep(0.01)
        world.steps.append("handed back" if handing.done() else "hand back waits")
        world.site.writing.set()
        await asyncio.gather(idle, handing)
        assert world.steps == [
            "save events",  # the idle save
            "hand back waits",
            "saved events",
            "save events",  # the hand back's, after it
            "saved events",
            "save vehicles",
            "saved vehicles",
        ]
        assert world.site.engines == {0, 2}

    run(scenario())
