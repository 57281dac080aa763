"""The worker's batches: cut when their first event has waited, filled while the last one is processed,
never larger than asked, and acknowledged only once processed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from faust.types import EventT

from streams.faust_adapter.consumer import App
from streams.faust_adapter.stream import Stream, take_batches

Taken = tuple[float, list[int]]  # (seconds since the start, the batch's values)


def value(event: EventT[Any]) -> int:
    return cast(int, event.value)  # the values sent are ints (a channel passes them as they are)


def run(
    feed: Callable[[Any], Awaitable[None]], max_: int, within: float, batches: int, busy: float = 0.0
) -> tuple[list[Taken], list[tuple[str, int]]]:
    """Feed a channel, take `batches` batches from its stream (each processed for `busy` seconds);
    return the batches and the log of what was taken and acknowledged, in order."""
    log: list[tuple[str, int]] = []

    async def main() -> list[Taken]:
        app = App("batch-test", broker="kafka://127.0.0.1:9", web_enabled=False, store="memory://", Stream=Stream)
        app.flow_control.resume()  # (no consumer: the channel's queue would wait for it)
        channel = app.channel()
        stream = app.stream(channel)

        async def ack(event: EventT[Any]) -> bool:
            log.append(("ack", value(event)))
            return True

        stream.ack = ack  # type: ignore[method-assign]
        taken: list[Taken] = []
        start = time.monotonic()
        feeding = asyncio.ensure_future(feed(channel))
        async for batch in take_batches(stream, max_, within):
            taken.append((time.monotonic() - start, [value(event) for event in batch]))
            log.extend(("take", value(event)) for event in batch)
            await asyncio.sleep(busy)
            if len(taken) == batches:
                break
        await feeding
        await stream.stop()
        return taken

    return asyncio.run(asyncio.wait_for(main(), 30)), log


async def send(channel: Any, values: range, *, after: float = 0.0) -> None:
    await asyncio.sleep(after)
    for number in values:
        await channel.send(value=number)


def test_an_idle_stream_hands_out_an_event_once_it_has_waited_for_company() -> None:
    async def feed(channel: Any) -> None:
        await send(channel, range(2))
        await send(channel, range(2, 3), after=0.1)

    [(at, values)], _ = run(feed, max_=100, within=0.4, batches=1)
    assert values == [0, 1, 2]
    assert 0.35 <= at < 1.0


def test_events_that_came_while_a_batch_was_processed_go_out_as_soon_as_it_is_done() -> None:
    """faust's take_events would wait `within` again after the first batch: the second at >= 1.5 s."""

    async def feed(channel: Any) -> None:
        await send(channel, range(2))
        await send(channel, range(2, 4), after=0.5)  # while the first batch is processed (0.3 to 1.1 s)

    (first_at, first), (second_at, second) = run(feed, max_=100, within=0.3, batches=2, busy=0.8)[0]
    assert (first, second) == ([0, 1], [2, 3])
    assert 0.25 <= first_at < 0.6
    assert second_at - (first_at + 0.8) < 0.2  # the second's first event has waited 0.3 s by then


def test_a_batch_holds_at_most_max_events_and_goes_out_when_full() -> None:
    async def feed(channel: Any) -> None:
        await send(channel, range(7))

    taken, _ = run(feed, max_=3, within=5.0, batches=2)
    assert [values for _, values in taken] == [[0, 1, 2], [3, 4, 5]]
    assert taken[1][0] < 1.0  # full: not the 5 s wait


@pytest.mark.parametrize("busy", [0.0, 0.5])
def test_a_batch_is_acknowledged_after_it_is_processed_and_before_the_next_is_taken(busy: float) -> None:
    async def feed(channel: Any) -> None:
        await send(channel, range(4))
        await send(channel, range(4, 6), after=0.2)

    taken, log = run(feed, max_=4, within=0.1, batches=2, busy=busy)
    assert [values for _, values in taken] == [[0, 1, 2, 3], [4, 5]]
    assert log[:10] == [("take", v) for v in range(4)] + [("ack", v) for v in range(4)] + [("take", 4), ("take", 5)]
