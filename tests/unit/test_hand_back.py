"""On revocation the worker saves its rule state and drops the revoked partitions' engines, one
save at a time: never beside an idle save that is still writing."""

from __future__ import annotations

import asyncio

from faust.types import TP

from streams.app import Folding, hand_back
from streams.compliance.catalogue import load
from streams.rule_stream import MemoryStore, SiteRules, VehicleRules

CATALOGUE = load()


def foldings() -> tuple[Folding, Folding]:
    site = Folding(SiteRules(CATALOGUE, MemoryStore()), "events")
    vehicles = Folding(VehicleRules(CATALOGUE, MemoryStore()), "vehicles")
    for folding in (site, vehicles):
        for partition in (0, 1, 2):
            folding.rules.engine(partition)
    return site, vehicles


def test_the_hand_back_waits_for_an_idle_save_under_way_then_drops_only_revoked_engines():
    site, vehicles = foldings()
    steps: list[str] = []
    writing = asyncio.Event()

    async def save(folding: Folding) -> None:
        steps.append(f"save {folding.topic}")
        await writing.wait()  # writes land once the test lets them: the idle save's is in flight till then
        steps.append(f"saved {folding.topic}")

    async def idle_save() -> None:
        async with site.lock:
            await save(site)

    async def scenario() -> None:
        idle = asyncio.create_task(idle_save())
        await asyncio.sleep(0)  # the idle save holds the lock and waits on its write
        revoked = {TP("events", 1), TP("vehicles", 2), TP("other", 0)}
        handing = asyncio.create_task(hand_back(revoked, (site, vehicles), save))
        await asyncio.sleep(0.01)
        steps.append("handed back" if handing.done() else "hand back waits")
        writing.set()
        await asyncio.gather(idle, handing)

    asyncio.run(scenario())
    assert steps == [
        "save events",  # the idle save
        "hand back waits",
        "saved events",
        "save events",  # the hand back's, after it
        "saved events",
        "save vehicles",
        "saved vehicles",
    ]
    assert sorted(site.rules.engines) == [0, 2]
    assert sorted(vehicles.rules.engines) == [0, 1]
