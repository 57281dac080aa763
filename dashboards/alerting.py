"""Grafana alert rules, contact point and notification policy, as provisioning data.

Alert SQL runs in Grafana's backend, where $__conditionalAll and dashboard variables do not exist:
these queries use neither, and name the datasource by its pinned uid.
"""

from __future__ import annotations

from typing import Any

from dashboards.clickhouse import DATASOURCE_UID, FORMAT_TABLE, PLUGIN
from streams.read_models import OPEN_NOW

FOLDER = "人物同防"
FOLDER_UID = "tongfang"
CONTACT_POINT = "人物同防值班"


RULES: list[dict[str, str]] = [
    {
        "uid": "tongfang-missed-disinfection",
        "title": "邮件快件消毒记录缺失",
        "summary": "有批次超过时限仍无消毒记录，或未消毒即分发。",
        "sql": "SELECT count() AS value FROM (SELECT DISTINCT alert_id FROM alerts "
        f"WHERE rule_id IN ('DIS-IMPORT', 'DIS-DOMESTIC', 'DIS-BEFORE-DISPATCH') AND {OPEN_NOW})",
    },
    {
        "uid": "tongfang-open-critical",
        "title": "存在未解除的严重预警",
        "summary": "人物同防规则发出的严重预警尚未解除。",
        "sql": "SELECT count() AS value FROM (SELECT DISTINCT alert_id FROM alerts "
        f"WHERE severity = 'critical' AND {OPEN_NOW})",
    },
]


def rule_groups(webhook_contact: str = CONTACT_POINT) -> dict[str, Any]:
    def rule(spec: dict[str, str]) -> dict[str, Any]:
        return {
            "uid": spec["uid"],
            "title": spec["title"],
            "condition": "C",
            "data": [
                {
                    "refId": "A",
                    "datasourceUid": DATASOURCE_UID,
                    "relativeTimeRange": {"from": 600, "to": 0},
                    "model": {
                        "refId": "A",
                        "datasource": {"type": PLUGIN, "uid": DATASOURCE_UID},
                        "editorType": "sql",
                        "format": FORMAT_TABLE,
                        "queryType": "table",
                        "rawSql": spec["sql"],
                    },
                },
                {
                    "refId": "B",
                    "datasourceUid": "__expr__",
                    "relativeTimeRange": {"from": 600, "to": 0},
                    "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
                },
                {
                    "refId": "C",
                    "datasourceUid": "__expr__",
                    "relativeTimeRange": {"from": 600, "to": 0},
                    "model": {
                        "refId": "C",
                        "type": "threshold",
                        "expression": "B",
                        "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
                    },
                },
            ],
            "noDataState": "OK",
            "execErrState": "Error",
            "for": "0s",
            "annotations": {"summary": spec["summary"]},
            "labels": {"system": "tongfang"},
            "notification_settings": {"receiver": webhook_contact},
        }

    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": "人物同防", "folder": FOLDER, "interval": "1m", "rules": [rule(s) for s in RULES]}
        ],
    }


def contact_points(url: str = "${TONGFANG_ALERT_WEBHOOK_URL}") -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [{"uid": "tongfang-webhook", "type": "webhook", "settings": {"url": url}}],
            }
        ],
    }


def policies() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname"],
                "routes": [{"receiver": CONTACT_POINT, "object_matchers": [["system", "=", "tongfang"]]}],
            }
        ],
    }
