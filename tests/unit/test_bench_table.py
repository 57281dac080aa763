"""The bench's table says how long the end-to-end rate was held, and flags a burst too short to count."""

from __future__ import annotations

import pytest

from tests.load.bench import SUSTAINED_S, print_table


@pytest.mark.parametrize(("seconds", "flagged"), [(48.5, True), (SUSTAINED_S, False), (71.2, False)])
def test_the_end_to_end_line_flags_a_burst_shorter_than_the_target_asks(
    seconds: float, flagged: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    print_table({"end_to_end_events_per_s": 6180, "end_to_end_seconds": seconds})

    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("end to end (HTTP"))
    assert f"6,180 events/s over {seconds} s" in line
    assert ("short of 60 s: raise --events" in line) is flagged
    assert line.rstrip().endswith(">= 50,000 for >= 60 s")
