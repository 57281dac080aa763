"""deploy/docker-compose.yml: every service, port, variable and mounted file it names exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from streams.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
ENV_EXAMPLE = {
    line.split("=", 1)[0]
    for line in (DEPLOY / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
}


def test_the_stack_has_every_service():
    assert set(COMPOSE["services"]) == {"kafka", "clickhouse", "grafana", "worker", "ingest", "notifier", "regulator"}
    for name, service in COMPOSE["services"].items():
        assert service.get("image"), name


def test_every_variable_used_is_in_the_env_example():
    used = set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "docker-compose.yml").read_text()))
    assert used <= ENV_EXAMPLE, used - ENV_EXAMPLE


def test_every_mounted_file_and_build_context_exists():
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).exists()
    provisioning = DEPLOY / "grafana" / "provisioning"
    for wanted in ("datasources/clickhouse.yaml", "dashboards/tongfang.yaml", "alerting/rules.yaml"):
        assert (provisioning / wanted).exists()


def test_published_ports_reach_the_ports_the_services_listen_on():
    defaults = Settings()
    listens = {"ingest": defaults.ingest_port, "regulator": defaults.regulator_port, "grafana": 3000}
    for name, port in listens.items():
        [mapping] = COMPOSE["services"][name]["ports"]
        host, container = mapping.rsplit(":", 1)
        assert int(container) == port, name
        assert re.fullmatch(r"\$\{\w+\}", host), name


def test_our_services_run_modules_that_exist_and_read_clickhouse_as_a_server():
    for name in ("worker", "ingest", "notifier", "regulator"):
        service = COMPOSE["services"][name]
        module = service["command"][2]
        assert importlib.util.find_spec(module) is not None, module
        assert service["environment"]["TONGFANG_WAREHOUSE"] == "clickhouse"
    assert COMPOSE["services"]["grafana"]["environment"]["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"


def test_services_read_as_the_readonly_reader_and_the_worker_listens_on_loopback():
    users = (DEPLOY / "clickhouse" / "users.d" / "tongfang.xml").read_text()
    assert "<reader>" in users
    assert re.search(r"<reader>\s*<readonly>1</readonly>", users)  # the profile
    for name in ("worker", "ingest", "notifier", "regulator"):
        assert COMPOSE["services"][name]["environment"]["TONGFANG_CLICKHOUSE_READER_USER"] == "reader", name
    assert "TONGFANG_WORKER_WEB_HOST" not in COMPOSE["services"]["worker"]["environment"]
    assert Settings().worker_web_host == "127.0.0.1"
