"""预警: alerts raised and resolved, by rule and enterprise, and the open list with evidence."""

from __future__ import annotations

from dashboards.spec import SCOPE_BY_SITE, SEVERITY_ZH, DashboardSpec, PanelSpec
from streams.read_models import OPEN

DASHBOARD = DashboardSpec(
    uid="tongfang-alerts",
    title="预警",
    description="合规规则发出与解除的预警：趋势、规则、企业，以及未解除预警和证据事件。",
    panels=(
        PanelSpec(
            "预警发出与解除",
            "timeseries",
            "SELECT $__timeInterval(at) AS time, uniqExactIf(alert_id, alert_type = 'alert.raised') AS `发出`, "
            "uniqExactIf(alert_id, alert_type = 'alert.resolved') AS `解除` FROM alerts "
            f"WHERE $__timeFilter(at) AND {SCOPE_BY_SITE} GROUP BY time ORDER BY time",
            ("time", "发出", "解除"),
            width=24,
            height=8,
        ),
        PanelSpec(
            "按规则",
            "barchart",
            "SELECT title_zh AS `规则`, uniqExact(alert_id) AS `预警数` FROM alerts "
            f"WHERE alert_type = 'alert.raised' AND $__timeFilter(at) AND {SCOPE_BY_SITE} "
            "GROUP BY title_zh ORDER BY `预警数` DESC",
            ("规则", "预警数"),
            width=12,
            height=9,
        ),
        PanelSpec(
            "按企业",
            "table",
            "SELECT enterprise_id AS `企业`, uniqExact(alert_id) AS `预警数`, "
            "uniqExactIf(alert_id, severity = 'critical') AS `严重`, "
            "uniqExactIf(alert_id, severity = 'major') AS `重要` "
            f"FROM alerts WHERE alert_type = 'alert.raised' AND $__timeFilter(at) AND {SCOPE_BY_SITE} "
            "GROUP BY enterprise_id ORDER BY `预警数` DESC",
            ("企业", "预警数", "严重", "重要"),
            width=12,
            height=9,
        ),
        PanelSpec(
            "未解除预警",
            "table",
            f"SELECT formatDateTime(at, '%Y-%m-%d %H:%i') AS `发现时间`, {SEVERITY_ZH} AS `级别`, title_zh AS `预警`, "
            "site_id AS `网点`, subject_id AS `对象`, formatDateTime(deadline, '%Y-%m-%d %H:%i') AS `时限`, "
            "arrayStringConcat(evidence, ', ') AS `证据事件` "
            f"FROM alerts WHERE {OPEN} AND {SCOPE_BY_SITE} ORDER BY at DESC LIMIT 200",
            ("发现时间", "级别", "预警", "网点", "对象", "时限", "证据事件"),
            width=24,
            height=10,
            site_link_column="网点",
        ),
    ),
)
