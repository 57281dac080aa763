"""A worker killed while it saves rule state recovers to the state and alerts of an uninterrupted run.

The store plays the changelog: a save lands key by key in any order and may stop part way, as a
SIGKILL leaves a batch of Kafka writes. Offsets are committed after a batch's state is saved, but
lag behind it (the commit interval), so the records read again can reach back several batches.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import fields
from datetime import datetime, timedelta

import orjson
import pytest

from deploy.simulator import SHANGHAI, City, Violations
from schemas.clock import encode_tick
from streams.compliance.catalogue import load
from streams.compliance.engine import Engine, State, ms, split_rule_subject
from streams.records import Record
from streams.rule_stream import MemoryStore, SiteRules
from streams.topics import by_partition
from tests import factories
from tests.unit.rules_harness import policy

START = datetime(2026, 9, 1, tzinfo=SHANGHAI)
PARTITIONS = 2
CATALOGUE = load()
FIELDS = [field.name for field in fields(Violations)]


class Killed(Exception):
    pass


class Changelog(MemoryStore):
    """Saves land one key at a time, shuffled; after `budget` more keys the worker is dead."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng
        self.budget: int | None = None

    async def save(self, partition: int, states: dict[str, State]) -> None:
        keys = list(states)
        self.rng.shuffle(keys)
        for key in keys:
            if self.budget == 0:
                raise Killed
            if self.budget is not None:
                self.budget -= 1
            await super().save(partition, {key: states[key]})


def a_city_log() -> list[list[Record]]:
    """Four days of a small city, packed by partition as the ingest API does, in batches; with clock
    ticks, and a day of the stricter response level, on every partition."""
    usual = Violations()
    often = Violations(**{rule: min(0.5, 6 * getattr(usual, rule)) for rule in FIELDS})
    city = City(seed=3, sites=12, violations=often)
    bodies = [*city.registrations(START - timedelta(hours=1)), *city.events(START, 96)]
    offsets = [0] * PARTITIONS
    records = []

    def append(partition: int, value: bytes, stamp: datetime) -> None:
        records.append(Record("events", partition, offsets[partition], b"k", value, int(stamp.timestamp() * 1000)))
        offsets[partition] += 1

    levels = {START + timedelta(hours=30): "response", START + timedelta(hours=54): "normal"}
    for start in range(0, len(bodies), 40):  # one request of 40 events ...
        chunk = bodies[start : start + 40]
        stamp = datetime.fromisoformat(chunk[-1]["occurred_at"])
        for partition, group in by_partition(chunk, lambda body: body["site_id"], PARTITIONS).items():
            append(partition, orjson.dumps(group), stamp)
        if start % 400 == 0:  # ... and now and then the clock's tick
            for partition in range(PARTITIONS):
                append(partition, encode_tick(stamp + timedelta(minutes=20)), stamp)
        for when in [when for when in levels if when <= stamp]:
            for partition in range(PARTITIONS):
                append(partition, orjson.dumps([policy(levels[when], when)]), stamp)
            del levels[when]
    return [records[n : n + 6] for n in range(0, len(records), 6)]


def alert_keys(rules: SiteRules, batch: list[Record]) -> set[tuple[str, str]]:
    return {(str(alert.alert_id), type(alert).__name__) for alert in rules.handle(batch).alerts}


def saved(store: MemoryStore) -> bytes:
    return orjson.dumps(
        {str(partition): states for partition, states in store.partitions.items()}, option=orjson.OPT_SORT_KEYS
    )


def uninterrupted(log: list[list[Record]]) -> tuple[set[tuple[str, str]], bytes]:
    store = MemoryStore()
    rules, alerts = SiteRules(CATALOGUE, store), set()
    for batch in log:
        alerts |= alert_keys(rules, batch)
        asyncio.run(rules.checkpoint(rules.take_changes()))
    return alerts, saved(store)


def killed_while_saving(log: list[list[Record]], at: int, budget: int, seed: int) -> tuple[set[tuple[str, str]], bytes]:
    store = Changelog(random.Random(seed))
    rules, alerts, committed = SiteRules(CATALOGUE, store), set(), 0
    for number, batch in enumerate(log[: at + 1]):
        alerts |= alert_keys(rules, batch)  # published (and acknowledged) before the state is saved
        store.budget = budget if number == at else None
        try:
            asyncio.run(rules.checkpoint(rules.take_changes()))
        except Killed:
            break
        if number % 3 == 2:
            committed = number + 1  # the consumer's offsets, committed now and then
    store.budget = None
    rules = SiteRules(CATALOGUE, store)  # the restarted worker: state from the changelog
    for batch in log[committed:]:
        alerts |= alert_keys(rules, batch)
        asyncio.run(rules.checkpoint(rules.take_changes()))
    return alerts, saved(store)


@pytest.fixture(scope="module")
def log_and_expected() -> tuple[list[list[Record]], tuple[set[tuple[str, str]], bytes]]:
    log = a_city_log()
    return log, uninterrupted(log)


@pytest.mark.parametrize("case", range(12))
def test_a_kill_part_way_through_saving_state_changes_no_alert_and_no_state(log_and_expected, case):
    log, (expected_alerts, expected_states) = log_and_expected
    assert len(expected_alerts) > 100
    assert len(log) > 12
    first = len(log) // 4
    at = first + case * (len(log) - 1 - first) // 11  # from a quarter in to the last batch
    budget = random.Random(case).randrange(0, 14)  # a batch changes about a dozen keys
    alerts, final = killed_while_saving(log, at, budget, case)
    assert alerts - expected_alerts == set(), "raised only by the recovered run"
    assert expected_alerts - alerts == set(), "missing from the recovered run"
    assert final == expected_states


def test_an_event_posted_before_its_sites_registration_stays_out_of_the_clock_after_a_kill():
    """Evaluated, the early event would carry the watermark a day ahead; the sink parks it instead."""
    early = factories.parcels_received(site="site-b", at=factories.BASE_TIME + timedelta(days=1))
    bodies = [
        [factories.site_registered(site="site-a"), early],
        [factories.site_registered(site="site-b"), factories.parcels_received(site="site-a")],
    ]
    received = ms(factories.BASE_TIME + timedelta(days=1, hours=1))
    log = [[Record("events", 0, n, b"k", orjson.dumps(body), received) for n, body in enumerate(bodies)]]
    expected_alerts, expected_states = uninterrupted(log)
    alerts, final = killed_while_saving(log, 0, 2, 0)  # both sites saved, the clock not
    assert orjson.loads(final)["0"][Engine.CLOCK]["max_seen"] == ms(factories.BASE_TIME)
    assert (alerts, final) == (expected_alerts, expected_states)


def lost_in_flight(
    log: list[list[Record]], partition: int, first: int, count: int
) -> tuple[set[tuple[str, str]], bytes]:
    """`count` records of `partition` from offset `first` are dropped in flight and the later ones
    handed out; then the partition is read again from the first lost record (`streams.faust_adapter.consumer`)."""
    records = [record for batch in log for record in batch]
    lost = range(first, first + count)
    delivered = [record for record in records if record.partition != partition or record.offset not in lost]
    again = [record for record in records if record.partition == partition and record.offset >= first]
    store = MemoryStore()
    rules, alerts = SiteRules(CATALOGUE, store), set()
    for sequence in (delivered, again):
        for start in range(0, len(sequence), 6):
            alerts |= alert_keys(rules, sequence[start : start + 6])
            asyncio.run(rules.checkpoint(rules.take_changes()))
    return alerts, saved(store)


@pytest.mark.parametrize("case", range(6))
def test_records_after_ones_lost_in_flight_wait_for_the_read_again(log_and_expected, case):
    log, (expected_alerts, expected_states) = log_and_expected
    partition = case % PARTITIONS
    last = max(record.offset for batch in log for record in batch if record.partition == partition)
    first = (case + 1) * last // 8
    alerts, final = lost_in_flight(log, partition, first, count=1 + 4 * case)
    assert alerts - expected_alerts == set(), "raised only by the run with the gap"
    assert expected_alerts - alerts == set(), "missing from the run with the gap"
    assert final == expected_states


def in_the_list_layout(store: MemoryStore) -> int:
    """Rewrite saved pending checks as state saved by earlier versions held them: a list of
    [due, rule, subject] instead of a mapping of "<rule>|<subject>" to due. Returns the checks rewritten."""
    rewritten = 0
    for states in store.partitions.values():
        for state in states.values():
            if "timers" in state:
                names = state["timers"]
                state["timers"] = [[due, *split_rule_subject(name)] for name, due in names.items()]
                rewritten += len(names)
    return rewritten


@pytest.mark.parametrize("stop", [1 / 3, 2 / 3])
def test_state_saved_with_pending_checks_as_a_list_recovers_to_an_uninterrupted_run(log_and_expected, stop):
    log, (expected_alerts, expected_states) = log_and_expected
    store = MemoryStore()
    rules, alerts = SiteRules(CATALOGUE, store), set()
    at = int(len(log) * stop)
    for batch in log[:at]:
        alerts |= alert_keys(rules, batch)
        asyncio.run(rules.checkpoint(rules.take_changes()))
    assert in_the_list_layout(store) > 20
    rules = SiteRules(CATALOGUE, store)  # started again on state in the old layout
    for batch in log[at:]:
        alerts |= alert_keys(rules, batch)
        asyncio.run(rules.checkpoint(rules.take_changes()))
    assert alerts == expected_alerts
    assert saved(store) == expected_states  # every key saved again, in the new layout
