"""The rules' pages (docs/rules/) are generated from the catalogue and the families the rule
modules declare; each catalogue rule belongs to exactly one family."""

from __future__ import annotations

from collections import Counter

from streams.compliance.catalogue import load
from streams.compliance.rule_docs import DOCS, pages
from streams.compliance.rules import FAMILIES


def test_every_catalogue_rule_is_declared_by_exactly_one_family():
    declared = Counter(str(rule_id) for family in FAMILIES.values() for rule_id in family.rules)
    assert set(declared) == set(load().rules)
    assert [rule_id for rule_id, count in declared.items() if count > 1] == []


def test_the_rules_pages_are_generated_from_the_catalogue():
    for file, text in pages().items():
        assert (DOCS / file).read_text() == text, "run: .venv/bin/python -m streams.compliance.rule_docs"


def test_a_page_shows_both_profiles_thresholds_and_both_languages():
    text = pages()["disinfection.md"]
    assert "## DIS-IMPORT: 进口邮件快件未按时消毒 / Imported batch not disinfected in time" in text
    assert "| `deadline` | 1h | 30m |" in text
    assert "| `rest` | 4d | 4d |" in text
