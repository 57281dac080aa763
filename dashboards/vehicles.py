"""车辆闭环: line-haul loops, departures and arrivals, loop breaches by kind, per route."""

from __future__ import annotations

from dashboards.spec import SCOPE, SCOPE_BY_SITE, DashboardSpec, PanelSpec

LOOPS_RUNNING = PanelSpec(
    "闭环运行车辆",
    "stat",
    "SELECT uniqExact(vehicle_id) AS `车辆数` FROM vehicle_events "
    f"WHERE event_type = 'vehicle.departed' AND $__timeFilter(occurred_at) AND {SCOPE}",
    ("车辆数",),
    "所选时段内发车的干线车辆。",
    width=6,
)

DASHBOARD = DashboardSpec(
    uid="tongfang-vehicles",
    title="车辆闭环",
    description="干线车辆闭环运行：发车与到达、脱离闭环、超时、封签和停留异常，分线路统计。",
    panels=(
        LOOPS_RUNNING,
        PanelSpec(
            "发车与到达",
            "timeseries",
            "SELECT $__timeInterval(occurred_at) AS time, countIf(event_type = 'vehicle.departed') AS `发车`, "
            "countIf(event_type = 'vehicle.arrived') AS `到达` FROM vehicle_events "
            f"WHERE $__timeFilter(occurred_at) AND {SCOPE} GROUP BY time ORDER BY time",
            ("time", "发车", "到达"),
            width=18,
        ),
        PanelSpec(
            "闭环异常（按类型）",
            "barchart",
            "SELECT title_zh AS `异常类型`, uniqExact(alert_id) AS `次数` FROM alerts "
            "WHERE rule_id IN ('VEH-OFF-ROUTE', 'VEH-OVERDUE', 'VEH-SEAL', 'VEH-DWELL', 'VEH-DRIVER-TEST') "
            f"AND alert_type = 'alert.raised' AND $__timeFilter(at) AND {SCOPE_BY_SITE} "
            "GROUP BY title_zh ORDER BY `次数` DESC",
            ("异常类型", "次数"),
            width=12,
            height=9,
        ),
        PanelSpec(
            "各线路运行情况",
            "table",
            "SELECT route_id AS `线路`, uniqExact(vehicle_id) AS `车辆数`, "
            "countIf(event_type = 'vehicle.departed') AS `发车次数`, "
            "countIf(event_type = 'vehicle.arrived') AS `到达次数`, "
            "countIf(event_type = 'vehicle.stopped') AS `计划外停车` FROM vehicle_events "
            f"WHERE route_id != '' AND $__timeFilter(occurred_at) AND {SCOPE} GROUP BY route_id ORDER BY `线路`",
            ("线路", "车辆数", "发车次数", "到达次数", "计划外停车"),
            width=12,
            height=9,
        ),
    ),
)
