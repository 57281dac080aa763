"""Folding a large batch a slice at a time: the event loop runs between slices, the output is the same."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import msgspec
import orjson

from deploy.simulator import SHANGHAI, City
from streams.compliance.catalogue import load
from streams.records import Decoded, Record, decode_records
from streams.rule_stream import MemoryStore, Output, SiteRules
from streams.topics import by_partition

START = datetime(2026, 9, 1, tzinfo=SHANGHAI)
CATALOGUE = load()


def a_day_of_a_city() -> list[Decoded]:
    """A day of a small city, packed by partition in records of up to 40 events, as ingest does."""
    city = City(seed=5, sites=8)
    bodies = [*city.registrations(START - timedelta(hours=1)), *city.events(START, 24)]
    records, offsets = [], [0, 0]
    for start in range(0, len(bodies), 40):
        chunk = bodies[start : start + 40]
        stamp = int(datetime.fromisoformat(chunk[-1]["occurred_at"]).timestamp() * 1000)
        for partition, group in by_partition(chunk, lambda body: body["site_id"], 2).items():
            records.append(Record("events", partition, offsets[partition], b"k", orjson.dumps(group), stamp))
            offsets[partition] += 1
    return decode_records(records, timedelta(days=400))


def as_bytes(out: Output) -> tuple[bytes, list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    return msgspec.json.encode(out.alerts), out.forwards, out.broadcasts


def test_folding_in_slices_lets_the_loop_run_and_gives_what_one_pass_gives() -> None:
    decoded = a_day_of_a_city()
    events = sum(len(item.valid) for item in decoded)
    assert events > 400

    async def folded_in_slices() -> tuple[Output, int]:
        turns, folding = 0, True

        async def count_turns() -> None:
            nonlocal turns
            while folding:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        before = turns
        out = await SiteRules(CATALOGUE, MemoryStore()).fold(decoded, turn_every=50)
        during, folding = turns - before, False
        await counter
        return out, during

    sliced, turns = asyncio.run(folded_in_slices())
    whole = SiteRules(CATALOGUE, MemoryStore()).handle_decoded(decoded)
    assert turns >= events // 100, f"the loop ran {turns} times while {events} events were folded"
    assert sliced.alerts
    assert sliced.forwards
    assert as_bytes(sliced) == as_bytes(whole)
