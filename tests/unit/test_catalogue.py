from __future__ import annotations

import copy
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pytest
import yaml

from streams.compliance.catalogue import DEFAULT_CATALOGUE, CatalogueError, load, parse
from streams.compliance.engine import RuleFamily
from streams.compliance.rules import FAMILIES, THRESHOLDS
from streams.compliance.rules.disinfection import Deadline
from streams.compliance.rules.staff import RoleIntervals

RAW: dict[str, Any] = yaml.safe_load(DEFAULT_CATALOGUE.read_text())


def test_the_catalogue_holds_every_rule_of_the_domain_with_both_profiles_and_texts():
    catalogue = load()
    assert set(catalogue.rules) == set(THRESHOLDS)
    assert len(catalogue.rules) == 19
    for rule in catalogue.rules.values():
        assert rule.title.zh
        assert rule.title.en
        assert rule.description.zh
        assert set(rule.profiles) == {"normal", "response"}
    assert catalogue.rule("DIS-IMPORT").limits("normal", Deadline).deadline == timedelta(hours=1)
    assert catalogue.rule("DIS-IMPORT").limits("response", Deadline).deadline == timedelta(minutes=30)
    assert catalogue.rule("STAFF-TEST-DUE").limits("normal", RoleIntervals).intervals[
        "international_exposed"
    ] == timedelta(days=3.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda raw: raw["rules"]["DIS-IMPORT"]["response"].update(deadline="soon"),
            "rule DIS-IMPORT, profile response: field deadline",
        ),
        (
            lambda raw: raw["rules"]["DIS-IMPORT"]["normal"].pop("deadline"),
            "rule DIS-IMPORT, profile normal: field deadline",
        ),
        (
            lambda raw: raw["rules"]["STAFF-CHECK"]["normal"].update(cutoff="25"),
            "rule STAFF-CHECK, profile normal: field cutoff",
        ),
        (
            lambda raw: raw["rules"]["SITE-DISINFECT"]["normal"].update(per_day=0),
            "rule SITE-DISINFECT, profile normal: field per_day",
        ),
        (lambda raw: raw["rules"]["VEH-SEAL"].update(severity="urgent"), "field rules.VEH-SEAL.severity"),
        (lambda raw: raw["rules"].pop("LEDGER-LATE"), "rule LEDGER-LATE: missing"),
        (lambda raw: raw["rules"].update({"DIS-TYPO": raw["rules"]["DIS-IMPORT"]}), "rule DIS-TYPO: unknown rule id"),
        (lambda raw: raw.pop("version"), "field version"),
        (lambda raw: raw["grading"].update(yellow_late_record_rate=2), "field grading.yellow_late_record_rate"),
        (lambda raw: raw["grading"].pop("window"), "field grading.window"),
    ],
)
def test_a_bad_catalogue_fails_naming_the_rule_and_field(change, message):
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(CatalogueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse(raw)


def test_the_catalogue_s_rules_are_those_the_rule_modules_declare():
    declared = {rule_id for family in FAMILIES.values() for rule_id in family.rules}
    assert set(THRESHOLDS) == declared
    assert set(load().rules) == declared


def test_a_rule_reads_its_thresholds_only_as_its_module_s_model():
    rule = load().rule("DIS-IMPORT")
    assert isinstance(rule.limits("normal", Deadline), Deadline)
    with pytest.raises(TypeError, match="rule DIS-IMPORT: thresholds are Deadline, not RoleIntervals"):
        rule.limits("normal", RoleIntervals)


def test_a_family_declares_one_threshold_model_per_rule_id():
    class Ids(StrEnum):
        ONE = "X-ONE"
        TWO = "X-TWO"

    RuleFamily("甲", "A", Ids, {Ids.ONE: Deadline, Ids.TWO: RoleIntervals}, ())
    with pytest.raises(ValueError, match="Ids: each rule id needs one threshold model"):
        RuleFamily("甲", "A", Ids, {Ids.ONE: Deadline}, ())
