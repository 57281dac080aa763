"""The publisher, run as an operator runs it (`make publish`: its own environment, where
grafana-client's niquests stays), against a stand-in Grafana that checks each call against the
documented API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dashboards.build import SPECS
from dashboards.clickhouse import DATASOURCE_UID
from tests.fake_grafana import TOKEN, FakeGrafana

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = ROOT / ".venv-publish" / "bin" / "python"  # make publish-env (part of make install)


def publish(url: str, token: str) -> subprocess.CompletedProcess[str]:
    args = ["--url", url, "--token", token, "--clickhouse-host", "clickhouse", "--clickhouse-password", "secret"]
    args += ["--webhook-url", "http://notify:6067/grafana"]
    return subprocess.run(
        [str(PUBLISHER), "-m", "dashboards.publish", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_publishing_twice_creates_everything_once_then_updates_in_place():
    with FakeGrafana() as grafana:
        first = publish(grafana.url, TOKEN)
        assert first.returncode == 0, first.stderr
        created = first.stdout.splitlines()
        assert "created folder tongfang" in created
        assert f"created datasource {DATASOURCE_UID}" in created
        second = publish(grafana.url, TOKEN)
        assert second.returncode == 0, second.stderr
        assert [line for line in second.stdout.splitlines() if line.startswith("created")] == []
        assert f"updated datasource {DATASOURCE_UID}" in second.stdout.splitlines()
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
        refused = publish(grafana.url, "wrong")
        assert refused.returncode == 1
        assert "Grafana refused the request (401)" in refused.stderr
        assert grafana.folders == {}


def test_the_projects_environment_keeps_urllib3_and_only_the_publishers_has_niquests():
    """grafana-client's niquests brings urllib3-future, which replaces urllib3 wherever it is installed."""
    ours = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('urllib3'));"
         "import importlib.util as u; print(u.find_spec('niquests') is None)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert ours[1] == "True", "niquests is installed in the project's environment"
    assert int(ours[0].split(".")[0]) == 2  # urllib3 itself (urllib3-future versions itself 2.x too)
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
