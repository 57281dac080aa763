"""py-spy on a running process of the stack: sample it while a stage runs, then name the functions
that took most of its busy time (idle threads are not sampled)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

PY_SPY = Path(sys.executable).parent / "py-spy"
_LINE = re.compile(r":\d+\)$")  # "name (file.py:12)" -> "name (file.py)": a function, not a line
OURS = re.compile(r"\((schemas|services|streams|dashboards|deploy)/")  # the project's own code


class Sampler:
    """`with Sampler(pid, path):` records folded stacks of `pid` into `path` until the block ends."""

    def __init__(self, pid: int, path: Path, rate: int = 100) -> None:
        self.pid, self.path, self.rate = pid, path, rate
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sampler:
        command = [str(PY_SPY), "record", "--pid", str(self.pid), "--format", "raw", "--output", str(self.path)]
        command += ["--rate", str(self.rate), "--nonblocking"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)  # py-spy writes what it has sampled and exits
        _, stderr = self._process.communicate(timeout=60)
        if self._process.returncode != 0 and not self.path.exists():
            raise RuntimeError(f"py-spy on pid {self.pid} failed: {stderr.decode(errors='replace')[-500:]}")


def top_functions(folded: str, count: int = 10) -> dict[str, Any]:
    """From py-spy's folded stacks ("frame;frame;… samples" per line): the samples, the `count`
    functions with the largest share of them on top of the stack (self), and the `count` of the
    project's own functions with the largest share anywhere in it (inclusive: the event loop and
    the frameworks' frames above them would fill it otherwise), each as [function, percent]."""
    on_top: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        functions = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += int(samples)
        on_top[functions[-1]] += int(samples)
        for function in {function for function in functions if OURS.search(function)}:
            anywhere[function] += int(samples)

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(count)] if total else []

    return {"samples": total, "self": shares(on_top), "inclusive": shares(anywhere)}
