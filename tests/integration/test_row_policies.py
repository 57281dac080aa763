"""Row policies for a ClickHouse server, checked on chDB.

chDB runs as a user without access management (CREATE ROLE / ROW POLICY answer ACCESS_DENIED,
Code 497), so the statements cannot be applied here. What can be checked is: every statement
parses as ClickHouse SQL (formatQuery), each policy's condition selects exactly its jurisdiction's
rows in the seeded tables, and every table a dashboard or the regulator API reads is covered.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from services.registry import Registry
from services.row_policies import role_name, scoped_tables, statements
from streams.warehouse import literal

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
POLICY = re.compile(  # formatQuery drops the backquotes an identifier does not need
    r"^CREATE ROW POLICY OR REPLACE `?(?P<name>[^` ]+)`? ON `?tongfang`?\.`?(?P<table>[^` ]+)`? "
    r"FOR SELECT USING (?P<using>.+) TO `?(?P<to>[^` ]+?)`?$"
)


@pytest.fixture
def regulators(tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    registry.create_regulator("post-330106", "西湖区邮政", "330106")
    registry.create_regulator("post-330109", "萧山区邮政", "330109")
    registry.create_regulator("post-3301", "杭州市邮政管理局", "3301")
    yield registry.regulators()
    registry.close()


def test_every_statement_is_clickhouse_sql_and_each_policy_selects_only_its_jurisdiction(seeded, regulators):
    tables = scoped_tables(seeded)
    assert {"alerts", "raw_events", "sites", "parcel_events"} <= set(tables)
    assert not any(table.endswith("_mv") for table in tables)
    sql = statements(regulators, tables, "tongfang", "tongfang_service")
    formatted = [seeded.query(f"SELECT formatQuery({literal(s)}) AS q")[0]["q"] for s in sql]

    policies = [match.groupdict() for s in formatted if (match := POLICY.match(s))]
    assert len(policies) == len(tables) * (len(regulators) + 1)  # one per table and role, and the services'
    assert sum(s.startswith("GRANT SELECT ON tongfang.") for s in formatted) == len(tables) * len(regulators)
    visible: dict[str, int] = {}
    for regulator in regulators:
        role = role_name(regulator.regulator_id)
        mine = [p for p in policies if p["to"] == role]
        assert sorted(p["table"] for p in mine) == tables
        for policy in mine:
            row = seeded.query(
                f"SELECT countIf({policy['using']}) AS seen, "
                f"countIf(startsWith(division_code, {literal(regulator.jurisdiction)})) AS theirs, "
                f"countIf(({policy['using']}) AND NOT startsWith(division_code, {literal(regulator.jurisdiction)})) "
                f"AS foreign FROM {policy['table']}"
            )[0]
            assert (row["seen"], row["foreign"]) == (row["theirs"], 0), (regulator, policy)
            visible[regulator.jurisdiction] = visible.get(regulator.jurisdiction, 0) + row["seen"]
    assert visible["330106"] > 0
    assert visible["330109"] > 0
    assert visible["3301"] == visible["330106"] + visible["330109"]
    service = [p for p in policies if p["to"] == "tongfang_service"]
    assert {p["using"] for p in service} == {"1"}


def test_every_table_the_dashboards_and_regulator_api_read_is_scoped(seeded):
    sources = [path.read_text() for path in (ROOT / "dashboards" / "json").glob("*.json")]
    queries = [target["rawSql"] for text in sources for target in _targets(orjson.loads(text))]
    queries.append((ROOT / "services" / "regulator" / "app.py").read_text())
    read = {table for query in queries for table in re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", query)}
    assert len(queries) > 30
    assert {"alerts", "sites"} <= read
    assert read <= set(scoped_tables(seeded))


def test_a_jurisdiction_that_is_not_a_division_prefix_is_refused(regulators):
    bad = regulators[0].__class__("x", "x", "33' OR 1=1 --")
    with pytest.raises(ValueError, match="jurisdiction"):
        statements([bad], ["alerts"], "tongfang", "tongfang_service")


def _targets(node: object) -> list[dict[str, str]]:
    if isinstance(node, dict):
        found = [node] if isinstance(node.get("rawSql"), str) else []
        return found + [t for value in node.values() for t in _targets(value)]
    if isinstance(node, list):
        return [t for value in node for t in _targets(value)]
    return []
