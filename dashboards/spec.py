"""Dashboards as data: a panel is a Chinese title, a kind and its SQL; `build` turns a spec into
grafana-foundation-sdk builders. Each dashboard module declares one `DashboardSpec`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_foundation_sdk.builders import barchart, geomap, piechart, stat, table, timeseries
from grafana_foundation_sdk.builders.common import FrameGeometrySource, MapLayerOptions, ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink, QueryVariable
from grafana_foundation_sdk.builders.geomap import MapViewConfig
from grafana_foundation_sdk.models.common import FrameGeometrySourceMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DynamicConfigValue,
    GridPos,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
)

from dashboards.clickhouse import FORMAT_TABLE, FORMAT_TIME_SERIES, Query, datasource

Kind = Literal["stat", "timeseries", "table", "barchart", "piechart", "geomap"]
# 网点分级 colours, as value mappings of a column named 等级 (Grafana's named colours).
GRADE_COLUMN = "等级"
GRADE_COLOURS = {"红": "red", "黄": "yellow", "绿": "green"}

# Filters every panel applies, by what its table holds.
SCOPE = (
    "startsWith(division_code, '${jurisdiction}') "
    "AND $__conditionalAll(brand IN (${brand:singlequote}), $brand) "
    "AND $__conditionalAll(site_id IN (${site:singlequote}), $site)"
)
SCOPE_BY_SITE = (
    "startsWith(division_code, '${jurisdiction}') "
    "AND $__conditionalAll(site_id IN (SELECT site_id FROM sites WHERE brand IN (${brand:singlequote})), $brand) "
    "AND $__conditionalAll(site_id IN (${site:singlequote}), $site)"
)
# What an open alert is: streams/read_models.py, shared with the alert rules and the regulator API.
SEVERITY_ZH = "multiIf(severity = 'critical', '严重', severity = 'major', '重要', '一般')"
SEVERITY_COLOURS = (("严重", "red"), ("重要", "orange"), ("一般", "blue"))
SITE_LINK = "/d/tongfang-site?var-site=${__value.raw}&${__url_time_range}"


@dataclass(frozen=True)
class PanelSpec:
    title: str
    kind: Kind
    sql: str
    columns: tuple[str, ...]
    description: str = ""
    unit: str | None = None
    width: int = 6
    height: int = 7
    site_link_column: str | None = None
    column_units: tuple[tuple[str, str], ...] = ()  # (column, unit) where a table's column has its own unit
    colours: tuple[tuple[str, str], ...] = ()  # (series or slice name, Grafana colour name)


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    panels: tuple[PanelSpec, ...]
    single_site: bool = False
    time_from: str = "now-24h"
    tags: tuple[str, ...] = field(default=("tongfang", "人物同防"))


def variables(single_site: bool) -> list[QueryVariable]:
    def variable(name: str, label: str, sql: str) -> QueryVariable:
        return (
            QueryVariable(name)
            .label(label)
            .datasource(datasource())
            .query({"rawSql": sql, "format": FORMAT_TABLE, "editorType": "sql"})
            .definition(sql)
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        )

    jurisdiction = variable(
        "jurisdiction",
        "辖区",
        "SELECT DISTINCT arrayJoin([substring(division_code, 1, 2), substring(division_code, 1, 4), division_code]) "
        "AS code FROM sites ORDER BY code",
    )
    brand = (
        variable(
            "brand",
            "品牌",
            "SELECT DISTINCT brand FROM sites WHERE startsWith(division_code, '${jurisdiction}') ORDER BY brand",
        )
        .multi(True)
        .include_all(True)
    )
    site = variable(
        "site",
        "网点",
        "SELECT DISTINCT site_id FROM sites WHERE startsWith(division_code, '${jurisdiction}') "
        "AND $__conditionalAll(brand IN (${brand:singlequote}), $brand) ORDER BY site_id",
    )
    if not single_site:
        site = site.multi(True).include_all(True)
    return [jurisdiction, brand, site]


def _panel(spec: PanelSpec, panel_id: int, x: int, y: int) -> Any:
    builders: dict[Kind, Callable[[], Any]] = {
        "stat": stat.Panel,
        "timeseries": timeseries.Panel,
        "table": table.Panel,
        "barchart": barchart.Panel,
        "piechart": piechart.Panel,
        "geomap": geomap.Panel,
    }
    fmt = FORMAT_TIME_SERIES if spec.kind == "timeseries" else FORMAT_TABLE
    panel = (
        builders[spec.kind]()
        .id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(datasource())
        .grid_pos(GridPos(h=spec.height, w=spec.width, x=x, y=y))
        .with_target(Query(spec.sql, fmt))
    )
    if spec.unit:
        panel = panel.unit(spec.unit)
    if spec.kind == "stat":
        panel = panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False)).no_value("无数据")
    if spec.kind == "geomap":
        panel = panel.view(MapViewConfig().id("fit").zoom(10)).layers(
            [
                MapLayerOptions()
                .type("markers")
                .name("网点")
                .location(FrameGeometrySource().mode(FrameGeometrySourceMode.COORDS).latitude("纬度").longitude("经度"))
                .config({"showLegend": True, "style": {"color": {"field": GRADE_COLUMN}, "size": {"fixed": 6}}})
                .tooltip(True)
            ]
        )
    if GRADE_COLUMN in spec.columns:
        mapping = ValueMap(
            options={
                grade: ValueMappingResult(color=colour, index=index)
                for index, (grade, colour) in enumerate(GRADE_COLOURS.items())
            }
        )
        panel = panel.override_by_name(GRADE_COLUMN, [DynamicConfigValue(id_val="mappings", value=[mapping])])
    for name, colour in spec.colours:
        fixed = DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})
        panel = panel.override_by_name(name, [fixed])
    for column, unit in spec.column_units:
        panel = panel.override_by_name(column, [DynamicConfigValue(id_val="unit", value=unit)])
    if spec.site_link_column:
        link = DynamicConfigValue(id_val="links", value=[{"title": "网点详情", "url": SITE_LINK}])
        panel = panel.override_by_name(spec.site_link_column, [link])
    return panel


def build(spec: DashboardSpec) -> Dashboard:
    dashboard = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .timezone("Asia/Shanghai")
        .time(spec.time_from, "now")
        .refresh("1m")
        .editable()
        .link(
            DashboardLink("人物同防")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["tongfang"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in variables(spec.single_site):
        dashboard = dashboard.with_variable(variable)
    x = y = row_height = 0
    for panel_id, panel_spec in enumerate(spec.panels, start=1):
        if x + panel_spec.width > 24:
            x, y, row_height = 0, y + row_height, 0
        dashboard = dashboard.with_panel(_panel(panel_spec, panel_id, x, y))
        x += panel_spec.width
        row_height = max(row_height, panel_spec.height)
    return dashboard
