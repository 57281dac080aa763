"""Dashboards as code: the checked-in JSON is current and well-formed, and every panel's SQL runs on
chDB against seeded data (macros expanded as the plugin does) and returns what the panel shows."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from dashboards import alerting, build
from dashboards.clickhouse import DATASOURCE_UID, PLUGIN, register
from dashboards.macros import ALL, expand
from tests.factories import BASE_TIME

pytestmark = pytest.mark.integration
SINCE, UNTIL = BASE_TIME - timedelta(days=2), BASE_TIME + timedelta(days=2)


def test_generated_files_are_current():
    for path, text in build.outputs().items():
        assert path.exists(), f"{path} missing: run `make dashboards`"
        assert path.read_text() == text, f"{path} is stale: run `make dashboards`"


def test_dashboards_round_trip_through_the_sdk_parser():
    register()
    for spec in build.SPECS:
        document = build.dashboard_json(spec)
        parsed = DashboardModel.from_json(document)
        assert json.loads(json.dumps(parsed.to_json(), default=lambda o: o.to_json())) == document


def test_uids_panel_ids_datasources_and_variables_are_consistent():
    uids = [spec.uid for spec in build.SPECS]
    assert len(set(uids)) == len(uids)
    assert all(len(uid) <= 40 for uid in uids)
    for spec in build.SPECS:
        document = build.dashboard_json(spec)
        ids = [panel["id"] for panel in document["panels"]]
        assert len(set(ids)) == len(ids)
        defined = {variable["name"] for variable in document["templating"]["list"]}
        for panel in document["panels"]:
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == {"type": PLUGIN, "uid": DATASOURCE_UID}
                used = {name for name in re.findall(r"\$\{?(\w+)", target["rawSql"]) if not name.startswith("__")}
                assert used <= defined, (spec.uid, panel["title"], used - defined)


def test_every_title_and_column_a_regulator_sees_is_chinese():
    han = re.compile(r"[\u4e00-\u9fff]")
    for spec in build.SPECS:
        assert han.search(spec.title)
        for panel in spec.panels:
            assert han.search(panel.title), panel.title
            assert all(han.search(column) for column in panel.columns if column != "time"), panel.columns


@pytest.mark.parametrize("spec", build.SPECS, ids=lambda spec: spec.uid)
@pytest.mark.parametrize("scope", ["all", "filtered"])
def test_every_panel_query_runs_on_seeded_data_and_returns_its_columns(seeded, spec, scope):
    site = "hz-intl-01" if scope == "filtered" or spec.single_site else ALL
    variables = {"jurisdiction": "33" if scope == "all" else "3301", "brand": ALL if scope == "all" else ["yt"]}
    variables["site"] = site if spec.single_site else [site] if site != ALL else ALL
    for panel in spec.panels:
        sql = expand(panel.sql, SINCE, UNTIL, variables, interval_s=3600)
        assert "$" not in sql.replace("$$", ""), (panel.title, sql)
        rows = seeded.query(sql)
        assert rows, f"{spec.uid} / {panel.title} returned no rows"
        assert tuple(rows[0]) == panel.columns, (panel.title, tuple(rows[0]))


def test_variable_queries_run_and_list_the_seeded_values(seeded):
    for spec in build.SPECS:
        for variable in build.dashboard_json(spec)["templating"]["list"]:
            sql = expand(variable["query"]["rawSql"], SINCE, UNTIL, {"jurisdiction": "33", "brand": ALL})
            values = {next(iter(row.values())) for row in seeded.query(sql)}
            assert values, variable["name"]
    sites = seeded.query(
        expand(
            build.dashboard_json(build.SPECS[0])["templating"]["list"][2]["query"]["rawSql"],
            SINCE,
            UNTIL,
            {"jurisdiction": "330109", "brand": ALL},
        )
    )
    assert sites == [{"site_id": "hz-intl-01"}]


def test_alert_rules_run_without_dashboard_variables_and_fire_on_the_seeded_day(seeded):
    document = yaml.safe_load((build.PROVISIONING / "alerting" / "rules.yaml").read_text())
    for rule in document["groups"][0]["rules"]:
        refs = {item["refId"] for item in rule["data"]}
        assert rule["condition"] in refs
        query = rule["data"][0]
        assert query["datasourceUid"] == DATASOURCE_UID
        assert query["relativeTimeRange"]["from"] > 0
        assert "$" not in query["model"]["rawSql"]
        [row] = seeded.query(query["model"]["rawSql"])
        assert row["value"] > 0, rule["title"]
    assert {r["uid"] for r in alerting.RULES} == {r["uid"] for r in document["groups"][0]["rules"]}
