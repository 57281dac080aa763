"""全市总览: the city at a glance for the task force."""

from __future__ import annotations

from dataclasses import replace

from dashboards.disinfection import NEEDS_DISINFECTION, RECEIVED, first_batches
from dashboards.grades import GRADING, graded_sites
from dashboards.rollup import events_total
from dashboards.spec import SCOPE_BY_SITE, SEVERITY_COLOURS, SEVERITY_ZH, DashboardSpec, PanelSpec
from dashboards.vehicles import LOOPS_RUNNING
from streams.read_models import OPEN

SHIFTS = "event_type = 'staff.shift_started'"
NEEDING_DISINFECTION = f"{RECEIVED} AND {NEEDS_DISINFECTION}"

DASHBOARD = DashboardSpec(
    uid="tongfang-overview",
    title="全市总览",
    description="人物同防总体情况：事件、消毒与健康监测合规率、闭环车辆、未解除预警和问题网点。",
    panels=(
        PanelSpec(
            "事件总数",
            "stat",
            f"SELECT n AS `事件数` FROM ({events_total('events_hourly', 'raw_events')})",
            ("事件数",),
            "所选时段内各网点上报的全部事件。",
            width=4,
        ),
        PanelSpec(
            "消毒合规率",
            "stat",
            "SELECT if(b.batches = 0, NULL, greatest(0, 1 - a.late / b.batches)) AS `消毒合规率` "
            f"FROM (SELECT sum(n) AS batches FROM ({first_batches('event_type', NEEDING_DISINFECTION)})) AS b "
            "CROSS JOIN (SELECT uniqExact((site_id, subject_id)) AS late FROM alerts "
            "WHERE alert_type = 'alert.raised' AND rule_id IN ('DIS-IMPORT', 'DIS-DOMESTIC') "
            f"AND $__timeFilter(deadline) AND {SCOPE_BY_SITE}) AS a",
            ("消毒合规率",),
            "所选时段内首次到达的需消毒批次中，在时限内有消毒记录的比例（按规则目录时限）；无批次时显示无数据。",
            unit="percentunit",
            width=4,
        ),
        PanelSpec(
            "健康监测合规率",
            "stat",
            "SELECT if(s.shifts = 0, NULL, greatest(0, 1 - a.missing / s.shifts)) AS `健康监测合规率` "
            f"FROM (SELECT n AS shifts FROM ({events_total('events_hourly', 'raw_events', SHIFTS)})) AS s "
            "CROSS JOIN (SELECT uniqExact(alert_id) AS missing FROM alerts WHERE alert_type = 'alert.raised' "
            f"AND rule_id = 'STAFF-CHECK' AND $__timeFilter(deadline) AND {SCOPE_BY_SITE}) AS a",
            ("健康监测合规率",),
            "上岗人次中在截止时间前完成健康监测的比例。",
            unit="percentunit",
            width=4,
        ),
        PanelSpec(
            "核酸检测合规率",
            "stat",
            "SELECT if(s.people = 0, NULL, greatest(0, 1 - a.overdue / s.people)) AS `核酸检测合规率` "
            f"FROM (SELECT count() AS people FROM staff FINAL WHERE active AND {SCOPE_BY_SITE}) AS s "
            "CROSS JOIN (SELECT uniqExact(subject_id) AS overdue FROM alerts "
            f"WHERE rule_id = 'STAFF-TEST-DUE' AND {OPEN} AND {SCOPE_BY_SITE}) AS a",
            ("核酸检测合规率",),
            "在岗人员中按岗位间隔有阴性检测结果的比例。",
            unit="percentunit",
            width=4,
        ),
        replace(LOOPS_RUNNING, width=4),
        PanelSpec(
            "未解除严重预警",
            "stat",
            f"SELECT uniqExact(alert_id) AS `严重预警` FROM alerts WHERE severity = 'critical' AND {OPEN} "
            f"AND {SCOPE_BY_SITE}",
            ("严重预警",),
            width=4,
        ),
        PanelSpec(
            "未解除预警（按级别）",
            "piechart",
            f"SELECT {SEVERITY_ZH} AS `级别`, uniqExact(alert_id) AS `预警数` FROM alerts WHERE {OPEN} "
            f"AND {SCOPE_BY_SITE} GROUP BY `级别` ORDER BY `级别`",
            ("级别", "预警数"),
            width=8,
            colours=SEVERITY_COLOURS,
            height=9,
        ),
        PanelSpec(
            "问题最多的网点",
            "table",
            "SELECT site_id AS `网点`, any(enterprise_id) AS `企业`, uniqExact(alert_id) AS `预警数`, "
            "uniqExactIf(alert_id, severity = 'critical') AS `严重预警` FROM alerts "
            f"WHERE alert_type = 'alert.raised' AND $__timeFilter(at) AND {SCOPE_BY_SITE} "
            "GROUP BY site_id ORDER BY `预警数` DESC, `网点` LIMIT 10",
            ("网点", "企业", "预警数", "严重预警"),
            "点击网点查看详情。",
            width=16,
            height=9,
            site_link_column="网点",
        ),
        PanelSpec(
            "网点分布（按分级）",
            "geomap",
            "SELECT site_id AS `网点`, site_name AS `名称`, lat AS `纬度`, lon AS `经度`, grade AS `等级` "
            f"FROM ({graded_sites()}) ORDER BY site_id",
            ("网点", "名称", "纬度", "经度", "等级"),
            GRADING.description.zh,
            width=24,
            height=12,
        ),
    ),
)
