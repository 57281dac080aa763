"""`make run`'s supervision: an exited process is started again, until restarts come too often."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from deploy import local
from deploy.stack import ServiceError


@dataclass
class Exiting:
    """Stands in for a LocalStack whose worker exits again after each start."""

    starts: int = 0
    fail_start: bool = False

    @dataclass
    class Service:
        name: str = "worker"

        def tail(self) -> str:
            return '{"event": "worker_stalled"}'

    def dead(self) -> list[Service]:
        return [self.Service()]

    def revive(self) -> list[tuple[str, int | None]]:
        if self.fail_start:
            raise ServiceError("worker exited early")
        self.starts += 1
        return [("worker", 70)]


def test_exited_processes_start_again_until_too_many_restarts_in_the_window() -> None:
    stack: Any = Exiting()
    restarts: list[float] = []
    now = 1000.0
    for _ in range(local.MAX_RESTARTS):
        assert local._supervise(stack, restarts, now)
        now += 1
    assert stack.starts == local.MAX_RESTARTS
    assert not local._supervise(stack, restarts, now)  # one more within the window: the stack stops
    assert stack.starts == local.MAX_RESTARTS

    now += local.RESTART_WINDOW_S  # the old restarts fall out of the window
    assert local._supervise(stack, restarts, now)
    assert stack.starts == local.MAX_RESTARTS + 1


def test_a_process_that_cannot_start_again_stops_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    stack: Any = Exiting(fail_start=True)
    assert not local._supervise(stack, [], 0.0)
    out = capsys.readouterr().out
    assert "worker exited; last lines of its log" in out
    assert "worker_stalled" in out
    assert "could not start it again: worker exited early" in out
