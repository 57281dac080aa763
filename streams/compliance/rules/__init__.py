"""The rule families, one module each. A module declares its rule ids (a StrEnum), each id's
threshold model, the logic that runs them (a handler per id) and the key they follow, in its
`FAMILY`; the catalogue's thresholds (`THRESHOLDS`) and the engines' rulebook
(`streams.compliance.rulebook`) are built from this list, and the rules' pages in docs/rules/ are
generated from it. Adding a rule: docs/adding-a-rule.md.
"""

from __future__ import annotations

from streams.compliance.engine import RuleFamily
from streams.compliance.rules import disinfection, ledger, site, staff, vehicles
from streams.compliance.thresholds import Thresholds

# In the order the engines run them: the site family first, as it records who the site is.
FAMILIES: dict[str, RuleFamily] = {
    "site": site.FAMILY,
    "disinfection": disinfection.FAMILY,
    "staff": staff.FAMILY,
    "ledger": ledger.FAMILY,
    "vehicles": vehicles.FAMILY,
}
THRESHOLDS: dict[str, type[Thresholds]] = {
    rule_id: model for family in FAMILIES.values() for rule_id, model in family.thresholds.items()
}
