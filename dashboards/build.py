"""`python -m dashboards.build`: write the dashboards' JSON and Grafana's provisioning files.

Outputs (checked in; a test fails when they are stale):
  dashboards/json/<uid>.json                              the dashboards (v1 JSON)
  deploy/grafana/provisioning/datasources/clickhouse.yaml  the ClickHouse datasource, pinned uid
  deploy/grafana/provisioning/dashboards/tongfang.yaml      the file provider for dashboards/json
  deploy/grafana/provisioning/alerting/*.yaml               alert rules, contact point, policy
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import alerting, alerts, disinfection, enterprises, overview, site, staff_health, vehicles
from dashboards.clickhouse import DATASOURCE_UID, PLUGIN
from dashboards.spec import DashboardSpec, build

ROOT = Path(__file__).resolve().parent.parent
JSON_DIR = ROOT / "dashboards" / "json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
SPECS: tuple[DashboardSpec, ...] = (
    overview.DASHBOARD,
    disinfection.DASHBOARD,
    staff_health.DASHBOARD,
    vehicles.DASHBOARD,
    alerts.DASHBOARD,
    enterprises.DASHBOARD,
    site.DASHBOARD,
)


def dashboard_json(spec: DashboardSpec) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(build(spec).build()))
    return document


def datasource() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Tongfang ClickHouse",
                "uid": DATASOURCE_UID,
                "type": PLUGIN,
                "access": "proxy",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "host": "${TONGFANG_CLICKHOUSE_HOST}",
                    "port": 9000,
                    "protocol": "native",
                    "username": "${TONGFANG_GRAFANA_CLICKHOUSE_USER}",
                    "defaultDatabase": "tongfang",
                    "secure": False,
                },
                "secureJsonData": {"password": "${TONGFANG_GRAFANA_CLICKHOUSE_PASSWORD}"},
            }
        ],
    }


def dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "tongfang",
                "folder": alerting.FOLDER,
                "folderUid": alerting.FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": "/var/lib/grafana/dashboards/tongfang"},
            }
        ],
    }


def outputs() -> dict[Path, str]:
    def as_yaml(document: dict[str, Any]) -> str:
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)

    files = {
        JSON_DIR / f"{spec.uid}.json": json.dumps(dashboard_json(spec), ensure_ascii=False, indent=2, sort_keys=True)
        + "\n"
        for spec in SPECS
    }
    files[PROVISIONING / "datasources" / "clickhouse.yaml"] = as_yaml(datasource())
    files[PROVISIONING / "dashboards" / "tongfang.yaml"] = as_yaml(dashboard_provider())
    files[PROVISIONING / "alerting" / "rules.yaml"] = as_yaml(alerting.rule_groups())
    files[PROVISIONING / "alerting" / "contact-points.yaml"] = as_yaml(alerting.contact_points())
    files[PROVISIONING / "alerting" / "policies.yaml"] = as_yaml(alerting.policies())
    return files


def main() -> None:
    for path, text in outputs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
