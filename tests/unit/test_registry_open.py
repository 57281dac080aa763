"""Ingest and the regulator API open the registry together when the stack starts: both must come up."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

from services.registry import Registry

ROUNDS = 80  # without the retry on "database is locked", about one round in ten failed here


def _open(path: Path, together: Barrier) -> None:
    together.wait()
    Registry(path).close()


def test_two_processes_opening_a_new_registry_at_once_both_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    exit_codes = []
    for round_ in range(ROUNDS):
        together = context.Barrier(2)
        processes = [context.Process(target=_open, args=(tmp_path / f"{round_}.sqlite", together)) for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        exit_codes += [process.exitcode for process in processes]
    assert exit_codes == [0] * 2 * ROUNDS
    assert Registry(tmp_path / "0.sqlite").authenticate("no such token") is None
