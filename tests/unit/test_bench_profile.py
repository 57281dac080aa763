"""The bench's profile summary: shares of py-spy's folded stacks per function, not per line."""

from __future__ import annotations

from tests.load.profile import top_functions

FOLDED = """\
run (faust/worker.py:10);process (streams/app.py:20);evaluate (streams/compliance/engine.py:30) 6
run (faust/worker.py:10);process (streams/app.py:21);evaluate (streams/compliance/engine.py:31) 2
run (faust/worker.py:10);process (streams/app.py:22);insert (streams/sink.py:40) 2
not a stack line
"""


def test_self_shares_count_the_top_frame_and_lines_of_one_function_add_up():
    profile = top_functions(FOLDED)
    assert profile["samples"] == 10
    assert profile["self"] == [
        ["evaluate (streams/compliance/engine.py)", 80.0],
        ["insert (streams/sink.py)", 20.0],
    ]


def test_inclusive_shares_count_a_function_of_the_project_once_per_stack():
    inclusive = dict(map(tuple, top_functions(FOLDED)["inclusive"]))
    assert inclusive == {
        "process (streams/app.py)": 100.0,
        "evaluate (streams/compliance/engine.py)": 80.0,
        "insert (streams/sink.py)": 20.0,
    }


def test_no_samples_give_no_shares():
    assert top_functions("") == {"samples": 0, "self": [], "inclusive": []}
