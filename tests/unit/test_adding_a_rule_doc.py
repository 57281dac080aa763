"""docs/adding-a-rule.md stays true: its module, registered as the doc says with its catalogue
entry, passes the doc's own tests on this codebase."""

from __future__ import annotations

import re
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from streams.compliance.catalogue import DEFAULT_CATALOGUE, parse
from streams.compliance.rules import FAMILIES, THRESHOLDS
from tests.unit import rules_harness

DOC = Path(__file__).resolve().parents[2] / "docs" / "adding-a-rule.md"
MODULE = "streams.compliance.rules.vehicle_hygiene"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
def doc_tests(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], None]]:
    module_code, registration, test_code = blocks("python")
    module = types.ModuleType(MODULE)
    monkeypatch.setitem(sys.modules, MODULE, module)
    exec(compile(module_code, f"{DOC}:module", "exec"), module.__dict__)
    name, _, attribute = registration.strip().splitlines()[-1].partition(": ")
    assert attribute == "vehicle_hygiene.FAMILY,", "the registration line registers the module's family"
    monkeypatch.setitem(FAMILIES, name.strip('"'), module.FAMILY)
    for rule_id, model in module.FAMILY.thresholds.items():
        monkeypatch.setitem(THRESHOLDS, rule_id, model)
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    raw["rules"].update(yaml.safe_load(textwrap.dedent(blocks("yaml")[0])))
    catalogue = parse(raw, "the catalogue with the doc's entry")
    monkeypatch.setattr(rules_harness, "load", lambda: catalogue)
    namespace: dict[str, object] = {"__name__": "doc_tests"}
    exec(compile(test_code, f"{DOC}:tests", "exec"), namespace)
    return {name: test for name, test in namespace.items() if name.startswith("test_") and callable(test)}


def test_the_worked_example_passes_its_own_tests(doc_tests: dict[str, Callable[[], None]]) -> None:
    assert len(doc_tests) == 4
    for test in doc_tests.values():
        test()


def test_without_its_catalogue_entry_the_example_does_not_load(monkeypatch: pytest.MonkeyPatch) -> None:
    module_code = blocks("python")[0]
    module = types.ModuleType(MODULE)
    monkeypatch.setitem(sys.modules, MODULE, module)
    exec(compile(module_code, f"{DOC}:module", "exec"), module.__dict__)
    for rule_id, model in module.FAMILY.thresholds.items():
        monkeypatch.setitem(THRESHOLDS, rule_id, model)
    with pytest.raises(ValueError, match="rule VEH-DISINFECT: missing from the catalogue"):
        parse(yaml.safe_load(DEFAULT_CATALOGUE.read_text()))
