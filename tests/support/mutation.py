"""`make mutate`'s report: mutmut's results per file, string mutants apart, equivalents excused.

mutmut 3 leaves each mutated module in mutants/<path> (every mutant a function beside the
original, `<name>__mutmut_<n>` and `<name>__mutmut_orig`) and its results in <path>.meta (exit
code by mutant). A mutant that changes only string literals — a message, a log event's name —
is a string mutant: reported, not scored. The equivalent mutants listed in tests/mutants.toml
(name and one-line reason) are excused. The score is killed / (non-string − equivalent).

    python -m tests.support.mutation [--min-score 0.9]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MUTANTS = Path("mutants")
EQUIVALENTS = Path("tests/mutants.toml")
STATUS = {1: "killed", 3: "killed", -24: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout"}


@dataclass
class FileScore:
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return self.counts["killed"] + self.counts["survived"] + self.counts["no tests"] + self.counts["timeout"]

    @property
    def score(self) -> float:
        return (self.counts["killed"] + self.counts["timeout"]) / self.scored if self.scored else 1.0


def _without_strings(node: ast.AST) -> str:
    class Blank(ast.NodeTransformer):
        def visit_Constant(self, constant: ast.Constant) -> ast.AST:
            return ast.Constant("") if isinstance(constant.value, str) else constant

        def visit_FunctionDef(self, function: ast.FunctionDef) -> ast.AST:
            function.name = ""
            self.generic_visit(function)
            return function

    return ast.dump(Blank().visit(node))


def _functions(path: Path) -> dict[str, ast.AST]:
    tree = ast.parse(path.read_text())
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def string_only(functions: dict[str, ast.AST], mutant: str) -> bool:
    """Whether the mutant differs from its original only in string literals."""
    name = mutant.rsplit(".", 1)[1]
    original = functions.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    mutated = functions.get(name)
    if original is None or mutated is None:
        return False
    return _without_strings(original) == _without_strings(mutated)


def report(min_score: float) -> int:
    equivalents = {entry["name"]: entry["reason"] for entry in tomllib.loads(EQUIVALENTS.read_text())["equivalent"]}
    scores: dict[str, FileScore] = {}
    strings = 0
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        results = json.loads(meta.read_text())["exit_code_by_key"]
        if not results:
            continue
        source = meta.with_suffix("")
        functions = _functions(source)
        score = scores.setdefault(str(source.relative_to(MUTANTS)), FileScore())
        for mutant, code in sorted(results.items()):
            if string_only(functions, mutant):
                strings += 1
                continue
            if mutant in equivalents:
                score.counts["equivalent"] += 1
                continue
            status = STATUS.get(code, "not run") if code is not None else "not run"
            score.counts[status] += 1
            if status in ("survived", "no tests"):
                score.survivors.append(f"{mutant} ({status})")
    failing = []
    print(f"{'file':<48} {'killed':>7} {'survived':>9} {'no tests':>9} {'equiv.':>7} {'not run':>8} {'score':>7}")
    for name, score in sorted(scores.items()):
        c = score.counts
        shown = f"{score.score:>7.1%}" if score.scored else f"{'-':>7}"
        print(f"{name:<48} {c['killed'] + c['timeout']:>7} {c['survived']:>9} {c['no tests']:>9} "
              f"{c['equivalent']:>7} {c['not run']:>8} {shown}")  # fmt: skip
        if score.score < min_score or not score.scored:
            failing.append(name)
    print(f"\nstring mutants (not scored): {strings}; equivalents excused: {len(equivalents)} (tests/mutants.toml)")
    survivors = [s for score in scores.values() for s in score.survivors]
    if survivors:
        print(f"\nsurvivors ({len(survivors)}; `.venv-mutate/bin/mutmut show NAME` shows one):")
        for survivor in survivors:
            print(f"  {survivor}")
    if failing:
        print(f"\nbelow {min_score:.0%}: {', '.join(failing)}")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--min-score", type=float, default=0.0, help="fail when a file scores below this (0 to 1)")
    sys.exit(report(parser.parse_args().min_score))


if __name__ == "__main__":
    main()
