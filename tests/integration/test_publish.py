"""The publisher against a stand-in Grafana that checks each call against the documented API."""

from __future__ import annotations

import pytest
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaUnauthorizedError, TokenAuth

from dashboards.build import SPECS
from dashboards.clickhouse import DATASOURCE_UID
from dashboards.publish import ClickHouseTarget, publish
from tests.fake_grafana import TOKEN, FakeGrafana

TARGET = ClickHouseTarget("clickhouse", 9000, "grafana", "secret")


def test_publishing_twice_creates_everything_once_then_updates_in_place():
    with FakeGrafana() as grafana:
        api = GrafanaApi.from_url(grafana.url, credential=TokenAuth(TOKEN))
        first = publish(api, TARGET, "http://notify:6067/grafana")
        assert "folder tongfang" in first.created
        assert f"datasource {DATASOURCE_UID}" in first.created
        second = publish(api, TARGET, "http://notify:6067/grafana")
        assert second.created == []
        assert grafana.problems == []
        assert set(grafana.dashboards) == {spec.uid for spec in SPECS}
        assert set(grafana.rules) == {"tongfang-missed-disinfection", "tongfang-open-critical"}
        assert list(grafana.datasources) == [DATASOURCE_UID]
        assert grafana.datasources[DATASOURCE_UID]["secureJsonData"] == {"password": "secret"}
        assert grafana.policy is not None
        assert grafana.policy["receiver"] == "人物同防值班"
        assert grafana.dashboards["tongfang-overview"]["title"] == "全市总览"


def test_a_wrong_token_is_refused_before_anything_is_written():
    with FakeGrafana() as grafana:
        api = GrafanaApi.from_url(grafana.url, credential=TokenAuth("wrong"))
        with pytest.raises(GrafanaUnauthorizedError):
            publish(api, TARGET, "http://notify:6067/grafana")
        assert grafana.folders == {}
        assert grafana.dashboards == {}
