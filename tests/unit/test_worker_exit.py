"""The worker leaves with faust's exit code and its output flushed, skipping the interpreter's teardown."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import logging, sys
from streams.__main__ import leave
logging.basicConfig(stream=sys.stderr, level=logging.INFO)
sys.stdout.write("buffered line")  # no newline: still in the buffer when leave() runs
logging.getLogger("x").info("logged line")
leave({code!r})
"""


@pytest.mark.parametrize(("code", "status"), [(0, 0), (70, 70), (None, 0), ("a message", 1)])
def test_leave_exits_with_the_code_and_flushes_what_was_written(code, status):
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(code=code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=buffered,
    )
    assert done.returncode == status
    assert done.stdout == "buffered line"
    assert "logged line" in done.stderr
