"""车辆闭环: line-haul loops, departures and arrivals, loop breaches by kind, per route."""

from __future__ import annotations

from dashboards.rollup import series_by_type, whole_and_partial
from dashboards.spec import SCOPE_BY_SITE, DashboardSpec, PanelSpec

DEPARTED = "event_type = 'vehicle.departed'"
ON_A_ROUTE = "route_id != ''"


def vehicle_states(keys: str, condition: str) -> str:
    """Rows of `keys`, `n` (events) and `v` (uniqExact state of vehicle ids) of the vehicle events in
    the range that meet `condition`."""
    columns = f"{keys}, " if keys else ""
    return whole_and_partial(
        "vehicles_hourly",
        "vehicle_events",
        f"{columns}sum(events) AS n, uniqExactMergeState(vehicles) AS v",
        f"{columns}count() AS n, uniqExactState(vehicle_id) AS v",
        condition,
        keys,
    )


LOOPS_RUNNING = PanelSpec(
    "闭环运行车辆",
    "stat",
    f"SELECT uniqExactMerge(v) AS `车辆数` FROM ({vehicle_states('', DEPARTED)})",
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
            series_by_type(
                "vehicles_hourly", "vehicle_events", {"发车": "vehicle.departed", "到达": "vehicle.arrived"}
            ),
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
            "SELECT route_id AS `线路`, uniqExactMerge(v) AS `车辆数`, "
            "sumIf(n, event_type = 'vehicle.departed') AS `发车次数`, "
            "sumIf(n, event_type = 'vehicle.arrived') AS `到达次数`, "
            "sumIf(n, event_type = 'vehicle.stopped') AS `计划外停车` FROM ("
            f"{vehicle_states('route_id, event_type', ON_A_ROUTE)}) GROUP BY route_id ORDER BY `线路`",
            ("线路", "车辆数", "发车次数", "到达次数", "计划外停车"),
            width=12,
            height=9,
        ),
    ),
)
