"""`python -m dashboards.publish --url … --token …`: put the folder, the ClickHouse datasource, the
dashboards, the alert rules, the contact point and the notification policy on a Grafana.

Idempotent: everything is addressed by its pinned uid and created or updated in place, so running
it again changes nothing but versions. Uses grafana-client with a service-account token; API-made
alerting objects carry X-Disable-Provenance so they stay editable in the UI.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, TokenAuth

from dashboards import alerting
from dashboards.build import SPECS, dashboard_json, datasource
from dashboards.clickhouse import DATASOURCE_UID


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def note(self, existed: bool, what: str) -> None:
        (self.updated if existed else self.created).append(what)


@dataclass(frozen=True)
class ClickHouseTarget:
    host: str
    port: int
    username: str
    password: str
    database: str = "tongfang"
    protocol: str = "native"
    secure: bool = False


def publish(api: GrafanaApi, target: ClickHouseTarget, webhook_url: str) -> Report:
    report = Report()
    _folder(api, report)
    _datasource(api, target, report)
    for spec in SPECS:
        api.dashboard.update_dashboard(
            {"dashboard": dashboard_json(spec), "folderUid": alerting.FOLDER_UID, "overwrite": True}
        )
        report.updated.append(f"dashboard {spec.uid}")
    _contact_point(api, webhook_url, report)
    _alert_rules(api, report)
    api.alertingprovisioning.set_notification_policy_tree(
        _policy_tree(alerting.policies()["policies"][0]), disable_provenance=True
    )
    report.updated.append("notification policy")
    return report


def _exists(call: Any) -> bool:
    try:
        call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return False
        raise
    return True


def _folder(api: GrafanaApi, report: Report) -> None:
    existed = _exists(lambda: api.folder.get_folder(alerting.FOLDER_UID))
    if not existed:
        api.folder.create_folder(alerting.FOLDER, uid=alerting.FOLDER_UID)
    report.note(existed, f"folder {alerting.FOLDER_UID}")


def _datasource(api: GrafanaApi, target: ClickHouseTarget, report: Report) -> None:
    body = datasource()["datasources"][0] | {
        "jsonData": {
            "host": target.host,
            "port": target.port,
            "protocol": target.protocol,
            "username": target.username,
            "defaultDatabase": target.database,
            "secure": target.secure,
        },
        "secureJsonData": {"password": target.password},
    }
    body.pop("editable", None)
    existed = _exists(lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID))
    if existed:
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, body)
    else:
        api.datasource.create_datasource(body)
    report.note(existed, f"datasource {DATASOURCE_UID}")


def _contact_point(api: GrafanaApi, url: str, report: Report) -> None:
    point = alerting.contact_points(url)["contactPoints"][0]
    receiver = point["receivers"][0]
    body = {"uid": receiver["uid"], "name": point["name"], "type": receiver["type"], "settings": receiver["settings"]}
    existing = {p.get("uid") for p in api.alertingprovisioning.get_contactpoints()}
    if receiver["uid"] in existing:
        api.alertingprovisioning.update_contactpoint(receiver["uid"], body, disable_provenance=True)
    else:
        api.alertingprovisioning.create_contactpoint(body, disable_provenance=True)
    report.note(receiver["uid"] in existing, f"contact point {receiver['uid']}")


def _alert_rules(api: GrafanaApi, report: Report) -> None:
    group = alerting.rule_groups()["groups"][0]
    for rule in group["rules"]:
        body = {
            **{key: value for key, value in rule.items() if key != "notification_settings"},
            "folderUID": alerting.FOLDER_UID,
            "ruleGroup": group["name"],
            "orgID": group["orgId"],
            "notification_settings": rule["notification_settings"],
        }
        existed = _exists(lambda uid=rule["uid"]: api.alertingprovisioning.get_alertrule(uid))
        if existed:
            api.alertingprovisioning.update_alertrule(rule["uid"], body, disable_provenance=True)
        else:
            api.alertingprovisioning.create_alertrule(body, disable_provenance=True)
        report.note(existed, f"alert rule {rule['uid']}")


def _policy_tree(policy: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in policy.items() if key != "orgId"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("GRAFANA_URL", "http://127.0.0.1:3000"))
    parser.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"), help="service-account token")
    parser.add_argument("--clickhouse-host", default=os.environ.get("TONGFANG_CLICKHOUSE_HOST", "clickhouse"))
    parser.add_argument("--clickhouse-port", type=int, default=9000)
    parser.add_argument("--clickhouse-user", default=os.environ.get("TONGFANG_GRAFANA_CLICKHOUSE_USER", "grafana"))
    parser.add_argument("--clickhouse-password", default=os.environ.get("TONGFANG_GRAFANA_CLICKHOUSE_PASSWORD", ""))
    parser.add_argument(
        "--webhook-url", default=os.environ.get("TONGFANG_ALERT_WEBHOOK_URL", "http://notify:6067/grafana")
    )
    args = parser.parse_args()
    if not args.token:
        parser.error("--token (or GRAFANA_TOKEN) is required: a Grafana service-account token")
    api = GrafanaApi.from_url(args.url, credential=TokenAuth(args.token))
    target = ClickHouseTarget(
        args.clickhouse_host, args.clickhouse_port, args.clickhouse_user, args.clickhouse_password
    )
    try:
        report = publish(api, target, args.webhook_url)
    except GrafanaClientError as exc:
        sys.exit(f"Grafana refused the request ({exc.status_code}): {exc.message}; nothing more was written")
    for what in report.created:
        print(f"created {what}")
    for what in report.updated:
        print(f"updated {what}")


if __name__ == "__main__":
    main()
