"""The worker's writes to the warehouse thread: started at once, retried until they succeed."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from streams.checkpoint import in_thread


def test_the_first_attempt_runs_while_the_event_loop_is_still_held() -> None:
    """The worker starts a batch's insert, then holds the loop evaluating the rules: the insert
    must be under way meanwhile, not wait for the loop to come round."""

    async def main() -> tuple[bool, str]:
        started = threading.Event()

        def work() -> str:
            started.set()
            return "stored"

        with ThreadPoolExecutor(max_workers=1) as executor:
            pending = in_thread("warehouse_insert", executor, work, Counter())
            ran_while_held = started.wait(timeout=5)  # blocks the loop, as the rules do
            return ran_while_held, await pending

    assert asyncio.run(main()) == (True, "stored")


def test_a_failed_attempt_is_run_again_in_the_thread() -> None:
    threads: list[str] = []
    retrying: Counter[str] = Counter()

    def work() -> str:
        threads.append(threading.current_thread().name)
        if len(threads) == 1:
            raise ConnectionError("warehouse away")
        return "stored"

    async def main() -> str:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse") as executor:
            return await in_thread("warehouse_insert", executor, work, retrying)

    assert asyncio.run(main()) == "stored"
    assert len(threads) == 2
    assert all(name.startswith("warehouse") for name in threads)
    assert retrying == Counter()
