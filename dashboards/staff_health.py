"""人员健康: health checks by the cut-off, fever and codes, tests due by role, vaccination."""

from __future__ import annotations

from dashboards.rollup import series_by_type
from dashboards.spec import SCOPE_BY_SITE, DashboardSpec, PanelSpec
from streams.read_models import OPEN

ROLE_ZH = (
    "transform(JSONExtractString(details, 'role'), "
    "['courier', 'sorter', 'driver', 'international_handler', 'international_exposed', 'other_logistics'], "
    "['快递员', '分拣员', '司机', '国际邮件处理人员', '国际邮件直接接触人员', '其他物流人员'], '其他')"
)

DASHBOARD = DashboardSpec(
    uid="tongfang-staff-health",
    title="人员健康",
    description="上岗前健康监测、发热与健康码异常、核酸检测超期和疫苗接种覆盖。",
    panels=(
        PanelSpec(
            "健康监测与上岗人次",
            "timeseries",
            series_by_type(
                "events_hourly",
                "raw_events",
                {"监测人次": "staff.health_checked", "上岗人次": "staff.shift_started"},
            ),
            ("time", "监测人次", "上岗人次"),
            "每个时段的健康监测和上岗记录数（人次）。",
            width=16,
            height=8,
        ),
        PanelSpec(
            "发热、有症状或健康码异常",
            "stat",
            "SELECT uniqExact(alert_id) AS `异常人次` FROM alerts WHERE rule_id = 'STAFF-FEVER' "
            f"AND alert_type = 'alert.raised' AND $__timeFilter(at) AND {SCOPE_BY_SITE}",
            ("异常人次",),
            width=4,
            height=8,
        ),
        PanelSpec(
            "未测温即上岗",
            "stat",
            "SELECT uniqExact(alert_id) AS `人次` FROM alerts WHERE rule_id IN ('STAFF-CHECK', 'STAFF-WORKED-SICK') "
            f"AND alert_type = 'alert.raised' AND $__timeFilter(at) AND {SCOPE_BY_SITE}",
            ("人次",),
            width=4,
            height=8,
        ),
        PanelSpec(
            "核酸检测超期（按岗位）",
            "barchart",
            f"SELECT {ROLE_ZH} AS `岗位`, uniqExact(subject_id) AS `超期人数` FROM alerts "
            f"WHERE rule_id = 'STAFF-TEST-DUE' AND {OPEN} AND {SCOPE_BY_SITE} GROUP BY `岗位` ORDER BY `岗位`",
            ("岗位", "超期人数"),
            width=12,
            height=9,
        ),
        PanelSpec(
            "疫苗接种覆盖率（按网点）",
            "table",
            "SELECT s.site_id AS `网点`, count() AS `在岗人数`, countIf(v.staff_id != '') AS `已接种人数`, "
            "round(countIf(v.staff_id != '') / count() * 100, 1) AS `覆盖率（%）` "
            f"FROM (SELECT staff_id, site_id FROM staff FINAL WHERE active AND {SCOPE_BY_SITE}) AS s "
            "LEFT JOIN (SELECT DISTINCT staff_id FROM staff_health_events WHERE event_type = 'staff.vaccinated') AS v "
            "ON s.staff_id = v.staff_id GROUP BY s.site_id ORDER BY `覆盖率（%）`",
            ("网点", "在岗人数", "已接种人数", "覆盖率（%）"),
            width=12,
            height=9,
            site_link_column="网点",
        ),
    ),
)
