"""Small batches are held for their insert until enough events come or the first has waited."""

from __future__ import annotations

from datetime import timedelta

import orjson

from schemas.clock import CLOCK_KEY, encode_tick
from streams.checkpoint import Held, next_offsets
from streams.records import Decoded, Record, decode_records
from tests import factories

STAMP = int(factories.BASE_TIME.timestamp() * 1000)


def records(count: int, partition: int = 0, offset: int = 0, per_record: int = 1) -> list[Decoded]:
    """`count` records of `per_record` parcel events each (the last of them invalid: no event_id)."""
    made = []
    for n in range(count):
        bodies = [factories.parcels_received(batch=f"B{n}-{i}") for i in range(per_record)]
        bodies[-1].pop("event_id")
        made.append(Record("events", partition, offset + n, b"site-a1", orjson.dumps(bodies), STAMP))
    return decode_records(made, timedelta(days=100_000))


def test_records_are_held_until_they_make_the_least_events_of_an_insert() -> None:
    held = Held(min_events=10, max_wait=60)
    held.add(records(2, per_record=3), now=0)
    assert held
    assert not held.due(now=1), "6 events of 10, and no wait is up"
    held.add(records(1, offset=2, per_record=3), now=1)
    assert not held.due(now=1), "9 events"
    held.add(records(1, offset=3), now=2)
    assert held.due(now=2), "10 events, the parked ones counted: they are inserted too"


def test_records_are_held_until_the_first_of_them_has_waited_the_longest() -> None:
    held = Held(min_events=1000, max_wait=0.75)
    held.add(records(1), now=10.0)
    held.add(records(1, offset=1), now=10.5)
    assert not held.due(now=10.7)
    assert held.due(now=10.75), "timed from the first record held, not the last"


def test_taking_empties_the_hold_and_the_next_record_starts_a_new_wait() -> None:
    held = Held(min_events=4, max_wait=1.0)
    first, second = records(3, per_record=2), records(1, offset=3)
    held.add(first, now=0)
    held.add(second, now=0.5)
    assert held.take() == first + second
    assert not held
    assert not held.due(now=100), "nothing held is never due"
    held.add(records(1, offset=4), now=5.0)
    assert not held.due(now=5.9), "the count and the wait start again"
    assert held.due(now=6.0)


def test_clock_ticks_are_held_with_the_events_and_come_due_by_their_wait() -> None:
    held = Held(min_events=1, max_wait=0.5)
    tick = Record("events", 0, 9, CLOCK_KEY, encode_tick(factories.BASE_TIME), STAMP)
    held.add(decode_records([tick], timedelta(days=1)), now=0)
    assert not held.due(now=0.4), "a tick is no event: it waits, to go with the next insert"
    assert held.due(now=0.5)


def test_the_records_let_the_commit_pass_each_partition_up_to_its_last_record() -> None:
    held = records(3, partition=1, offset=40) + records(2, partition=0, offset=7) + records(1, partition=1, offset=43)
    assert next_offsets(held) == {("events", 1): 44, ("events", 0): 9}
