from __future__ import annotations

import time

import pytest

from dashboards.build import SPECS
from tests.load.bench import PanelReads


class Recording:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sql: list[str] = []
        self.fail_after = fail_after
        self.calls = 0

    def query(self, sql: str) -> list[dict[str, int]]:
        self.calls += 1
        if self.fail_after is not None and len(self.sql) == self.fail_after:
            raise ConnectionError("the worker went away")
        self.sql.append(sql)
        return []


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_panel_reads_run_every_city_panel_in_turn_with_macros_expanded_and_time_each():
    panels = [panel for spec in SPECS if not spec.single_site for panel in spec.panels]
    reader = Recording()
    with PanelReads(reader, every=0.001) as reads:
        wait_for(lambda: len(reader.sql) > len(panels))
    assert len(reads.times_ms) == len(reader.sql)
    assert reader.sql[len(panels)] == reader.sql[0]  # round again, from the first
    assert len(set(reader.sql[: len(panels)])) == len({panel.sql for panel in panels})
    assert not any("$__" in sql or "${" in sql for sql in reader.sql)


def test_a_failed_panel_read_is_raised_on_leaving():
    reader = Recording(fail_after=3)
    reads = PanelReads(reader, every=0.001)
    with pytest.raises(RuntimeError, match="a panel's query failed: the worker went away"), reads:
        wait_for(lambda: reader.calls == 4)
    assert (reader.calls, len(reads.times_ms)) == (4, 3)  # the thread ended at the failure, joined on leaving
