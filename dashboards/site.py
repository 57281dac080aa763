"""网点详情: one site's events, open alerts, batch ledger and health checks.

Every panel also filters on the jurisdiction, as every other dashboard does: the console forces that
variable to the regulator's own, so a site of another jurisdiction shows nothing.
"""

from __future__ import annotations

from dashboards.spec import SEVERITY_ZH, DashboardSpec, PanelSpec
from streams.read_models import OPEN

THIS_SITE = "site_id = '${site}' AND startsWith(division_code, '${jurisdiction}')"

EVENT_ZH = (
    "transform(event_type, ['parcels.received', 'parcels.disinfected', 'parcels.dispatched', 'staff.health_checked', "
    "'staff.tested', 'staff.shift_started', 'vehicle.arrived', 'vehicle.departed', 'site.disinfected'], "
    "['邮件到达', '邮件消毒', '邮件分发', '健康监测', '核酸检测', '上岗', '车辆到达', '车辆发车', '场所消杀'], '其他')"
)

DASHBOARD = DashboardSpec(
    uid="tongfang-site",
    title="网点详情",
    description="单个网点的事件、未解除预警、批次台账和健康监测记录。",
    single_site=True,
    panels=(
        PanelSpec(
            "事件（按类型）",
            "barchart",
            f"SELECT {EVENT_ZH} AS `事件类型`, count() AS `事件数` FROM raw_events "
            f"WHERE {THIS_SITE} AND $__timeFilter(occurred_at) GROUP BY `事件类型` ORDER BY `事件数` DESC",
            ("事件类型", "事件数"),
            width=12,
            height=9,
        ),
        PanelSpec(
            "本网点未解除预警",
            "table",
            f"SELECT {SEVERITY_ZH} AS `级别`, title_zh AS `预警`, subject_id AS `对象`, "
            "formatDateTime(deadline, '%Y-%m-%d %H:%i') AS `时限` FROM alerts "
            f"WHERE {THIS_SITE} AND {OPEN} ORDER BY deadline",
            ("级别", "预警", "对象", "时限"),
            width=12,
            height=9,
        ),
        PanelSpec(
            "批次台账",
            "table",
            "SELECT batch_id AS `批次`, "
            "if(anyIf(origin, event_type = 'parcels.received') = 'imported', '进口', '国内') AS `来源`, "
            "sumIf(item_count, event_type = 'parcels.received') AS `到达件数`, "
            "formatDateTime(minIf(occurred_at, event_type = 'parcels.received'), '%m-%d %H:%i') AS `到达时间`, "
            "if(countIf(event_type = 'parcels.disinfected') = 0, '无记录', "
            "formatDateTime(minIf(occurred_at, event_type = 'parcels.disinfected'), '%m-%d %H:%i')) AS `消毒时间`, "
            "if(countIf(event_type = 'parcels.dispatched') = 0, '未分发', "
            "formatDateTime(minIf(occurred_at, event_type = 'parcels.dispatched'), '%m-%d %H:%i')) AS `分发时间` "
            f"FROM parcel_events WHERE {THIS_SITE} AND $__timeFilter(occurred_at) "
            "GROUP BY batch_id ORDER BY `到达时间` DESC LIMIT 200",
            ("批次", "来源", "到达件数", "到达时间", "消毒时间", "分发时间"),
            width=14,
            height=10,
        ),
        PanelSpec(
            "健康监测记录",
            "table",
            "SELECT formatDateTime(occurred_at, '%m-%d %H:%i') AS `时间`, staff_id AS `人员（化名）`, "
            "temperature AS `体温`, transform(health_code, ['green', 'yellow', 'red'], ['绿码', '黄码', '红码'], '') "
            "AS `健康码`, arrayStringConcat(symptoms, ', ') AS `症状` FROM staff_health_events "
            f"WHERE {THIS_SITE} AND event_type = 'staff.health_checked' AND $__timeFilter(occurred_at) "
            "ORDER BY occurred_at DESC LIMIT 200",
            ("时间", "人员（化名）", "体温", "健康码", "症状"),
            width=10,
            height=10,
        ),
    ),
)
